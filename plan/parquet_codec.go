package plan

import (
	"fmt"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
)

// Parquet pages are decompressed into a buffer of the size the page header declares,
// but arrow-go's Snappy and Zstd decoders trust the block's own length instead: a
// corrupt page a few bytes long that claims gigabytes made a scan allocate and clear
// them (seconds and gigabytes of memory per page, found by FuzzParquetScan). These
// replacements refuse to decode past the page's buffer; a page that would is corrupt.
// Gzip, Brotli and LZ4 already decode into the buffer only.
func init() {
	for _, c := range []struct {
		typ   compress.Compression
		codec func(compress.Codec) compress.Codec
	}{
		{compress.Codecs.Snappy, func(c compress.Codec) compress.Codec { return boundedSnappy{c} }},
		{compress.Codecs.Zstd, func(c compress.Codec) compress.Codec { return boundedZstd{c} }},
	} {
		if orig, err := compress.GetCodec(c.typ); err == nil {
			compress.RegisterCodec(c.typ, c.codec(orig))
		}
	}
}

// boundedSnappy is arrow-go's Snappy codec with decoding bounded by dst.
type boundedSnappy struct{ compress.Codec }

func (c boundedSnappy) Decode(dst, src []byte) []byte { return mustDecode(c, dst, src) }

// DecodeWithError decodes src into dst, which is as long as the page's uncompressed
// size: a block longer than that is an error, before anything is allocated.
func (boundedSnappy) DecodeWithError(dst, src []byte) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return nil, fmt.Errorf("snappy: %w", err)
	}
	if n > len(dst) {
		return nil, fmt.Errorf("snappy block decodes to %d bytes, more than the page's %d", n, len(dst))
	}
	return snappy.Decode(dst, src)
}

// boundedZstd is arrow-go's Zstd codec with decoding bounded by dst's capacity.
type boundedZstd struct{ compress.Codec }

// zstdPages decodes pages; DecodeAll is safe for concurrent use.
var zstdPages, _ = zstd.NewReader(nil, zstd.WithDecodeAllCapLimit(true), zstd.WithDecoderConcurrency(0))

func (c boundedZstd) Decode(dst, src []byte) []byte { return mustDecode(c, dst, src) }

// DecodeWithError decodes src into dst's memory, failing once the output would outgrow
// it.
func (boundedZstd) DecodeWithError(dst, src []byte) ([]byte, error) {
	out, err := zstdPages.DecodeAll(src, dst[:0])
	if err != nil {
		return nil, fmt.Errorf("zstd: page larger than its declared %d bytes, or corrupt: %w", cap(dst), err)
	}
	return out, nil
}

// mustDecode is Decode for codecs whose callers expect a panic on error, as arrow-go's
// own codecs do.
func mustDecode(c compress.ErrorCodec, dst, src []byte) []byte {
	out, err := c.DecodeWithError(dst, src)
	if err != nil {
		panic(err)
	}
	return out
}
