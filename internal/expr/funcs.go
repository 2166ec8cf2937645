package expr

func registerMore() {}
