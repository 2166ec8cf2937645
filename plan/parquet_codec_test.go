package plan

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A page whose compressed block claims more than the page's declared size fails at
// once, without allocating what it claims; a page of the declared size decodes.
func TestPageCodecsBoundedByPage(t *testing.T) {
	page := bytes.Repeat([]byte("strata parquet page "), 200) // 4000 bytes
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	// a snappy block that claims 1 GiB: its length varint, then a literal of 8 bytes
	bomb := binary.AppendUvarint(nil, 1<<30)
	bomb = append(bomb, 7<<2, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h')
	for _, c := range []struct {
		name  string
		typ   compress.Compression
		bomb  []byte // decodes to far more than the page
		match string
	}{
		{"snappy", compress.Codecs.Snappy, bomb, "decodes to 1073741824 bytes, more than the page's 4000"},
		{"zstd", compress.Codecs.Zstd, enc.EncodeAll(make([]byte, 64<<20), nil), "page larger than its declared 4000 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			codec, err := compress.GetCodec(c.typ)
			if err != nil {
				t.Fatal(err)
			}
			var derr error
			n := allocated(func() { _, derr = compress.Decode(codec, make([]byte, len(page)), c.bomb) })
			if n > 8<<20 {
				t.Fatalf("decoding a block larger than its page allocated %d bytes", n)
			}
			if derr == nil || !strings.Contains(derr.Error(), c.match) {
				t.Fatalf("decoding a block larger than its page: err %v, want one containing %q", derr, c.match)
			}
			out, err := compress.Decode(codec, make([]byte, len(page)), codec.Encode(nil, page))
			if err != nil || !bytes.Equal(out, page) {
				t.Fatalf("a page of its declared size: err %v, equal %v", err, bytes.Equal(out, page))
			}
		})
	}
}
