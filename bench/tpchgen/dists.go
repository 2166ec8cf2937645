package tpchgen

// Word lists of dbgen's dists.dss (uniform weights where dbgen's are uniform).

var regionNames = []string{"AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST"}

var nationNames = []string{
	"ALGERIA", "ARGENTINA", "BRAZIL", "CANADA", "EGYPT", "ETHIOPIA", "FRANCE", "GERMANY",
	"INDIA", "INDONESIA", "IRAN", "IRAQ", "JAPAN", "JORDAN", "KENYA", "MOROCCO",
	"MOZAMBIQUE", "PERU", "CHINA", "ROMANIA", "SAUDI ARABIA", "VIETNAM", "RUSSIA",
	"UNITED KINGDOM", "UNITED STATES",
}

var nationRegion = []int64{0, 1, 1, 1, 4, 0, 3, 3, 2, 2, 4, 4, 2, 4, 0, 0, 0, 1, 2, 3, 4, 2, 3, 3, 1}

var segments = []string{"AUTOMOBILE", "BUILDING", "FURNITURE", "MACHINERY", "HOUSEHOLD"}

var priorities = []string{"1-URGENT", "2-HIGH", "3-MEDIUM", "4-NOT SPECIFIED", "5-LOW"}

var shipInstructs = []string{"DELIVER IN PERSON", "COLLECT COD", "NONE", "TAKE BACK RETURN"}

var shipModes = []string{"REG AIR", "AIR", "RAIL", "SHIP", "TRUCK", "MAIL", "FOB"}

var typeS1 = []string{"STANDARD", "SMALL", "MEDIUM", "LARGE", "ECONOMY", "PROMO"}
var typeS2 = []string{"ANODIZED", "BURNISHED", "PLATED", "POLISHED", "BRUSHED"}
var typeS3 = []string{"TIN", "NICKEL", "BRASS", "STEEL", "COPPER"}

var containerS1 = []string{"SM", "LG", "MED", "JUMBO", "WRAP"}
var containerS2 = []string{"CASE", "BOX", "BAG", "JAR", "PKG", "PACK", "CAN", "DRUM"}

// colors are the 92 words part names are made of.
var colors = []string{
	"almond", "antique", "aquamarine", "azure", "beige", "bisque", "black", "blanched",
	"blue", "blush", "brown", "burlywood", "burnished", "chartreuse", "chiffon", "chocolate",
	"coral", "cornflower", "cornsilk", "cream", "cyan", "dark", "deep", "dim", "dodger",
	"drab", "firebrick", "floral", "forest", "frosted", "gainsboro", "ghost", "goldenrod",
	"green", "grey", "honeydew", "hot", "indian", "ivory", "khaki", "lace", "lavender",
	"lawn", "lemon", "light", "lime", "linen", "magenta", "maroon", "medium", "metallic",
	"midnight", "mint", "misty", "moccasin", "navajo", "navy", "olive", "orange", "orchid",
	"pale", "papaya", "peach", "peru", "pink", "plum", "powder", "puff", "purple", "red",
	"rose", "rosy", "royal", "saddle", "salmon", "sandy", "seashell", "sienna", "sky",
	"slate", "smoke", "snow", "spring", "steel", "tan", "thistle", "tomato", "turquoise",
	"violet", "wheat", "white", "yellow",
}

// The text grammar's words.
var (
	nouns = []string{
		"foxes", "ideas", "theodolites", "pinto beans", "instructions", "dependencies",
		"excuses", "platelets", "asymptotes", "courts", "dolphins", "multipliers",
		"sauternes", "warthogs", "frets", "dinos", "attainments", "somas", "Tiresias",
		"patterns", "forges", "braids", "hockey players", "frays", "warhorses", "dugouts",
		"notornis", "epitaphs", "pearls", "tithes", "waters", "orbits", "gifts", "sheaves",
		"depths", "sentiments", "decoys", "realms", "pains", "grouches", "escapades",
		"accounts", "deposits", "packages", "requests", "packages", "requests", "accounts",
		"deposits", "instructions", "foxes", "ideas",
	}
	verbs = []string{
		"sleep", "wake", "are", "cajole", "haggle", "nag", "use", "boost", "affix", "detect",
		"integrate", "maintain", "nod", "was", "lose", "sublate", "solve", "thrash",
		"promise", "engage", "hinder", "print", "x-ray", "breach", "eat", "grow", "impress",
		"mold", "poach", "serve", "run", "dazzle", "snooze", "doze", "unwind", "kindle",
		"play", "hang", "believe", "doubt", "sleep", "wake", "are", "cajole", "haggle",
	}
	adjectives = []string{
		"furious", "sly", "careful", "blithe", "quick", "fluffy", "slow", "quiet", "ruthless",
		"thin", "close", "dogged", "daring", "brave", "stealthy", "permanent", "enticing",
		"idle", "busy", "regular", "final", "ironic", "even", "bold", "silent", "pending",
		"special", "express", "unusual", "regular", "final", "ironic", "even", "bold",
		"special", "express", "pending",
	}
	adverbs = []string{
		"sometimes", "always", "never", "furiously", "slyly", "carefully", "blithely",
		"quickly", "fluffily", "slowly", "quietly", "ruthlessly", "thinly", "closely",
		"doggedly", "daringly", "bravely", "stealthily", "permanently", "enticingly", "idly",
		"busily", "regularly", "finally", "ironically", "evenly", "boldly", "silently",
		"furiously", "slyly", "carefully", "blithely", "quickly", "fluffily",
	}
	prepositions = []string{
		"about", "above", "according to", "across", "after", "against", "along",
		"alongside of", "among", "around", "at", "atop", "before", "behind", "beneath",
		"beside", "besides", "between", "beyond", "by", "despite", "during", "except",
		"for", "from", "in place of", "inside", "instead of", "into", "near", "of", "on",
		"outside", "over", "past", "since", "through", "throughout", "to", "toward",
		"under", "until", "up", "upon", "without", "with", "within",
	}
	auxiliaries = []string{
		"do", "may", "might", "shall", "will", "would", "can", "could", "should",
		"ought to", "must", "will have to", "shall have to", "could have to",
		"should have to", "must have to", "need to", "try to",
	}
	terminators = []string{".", ".", ".", ";", ":", "?", "!", "--"}
)
