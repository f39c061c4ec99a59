package mesosconn

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// errFrameTooLarge is wrapped by the error of a RecordIO record over the
// size limit.
var errFrameTooLarge = errors.New("RecordIO record over the size limit")

// maxLengthDigits is the most digits a record length may have: a uint64.
const maxLengthDigits = 20

// keptBufferBytes is the largest frame buffer kept between records; a
// larger one (a big OFFERS event) is let go once decoded, so one burst does
// not pin its memory for the life of the stream.
const keptBufferBytes = 1 << 20

// frameReader reads RecordIO records ("<decimal length>\n<payload>",
// shared/mesos-protocol.md 0.4) for mesos-go's decoders (a framing.Reader).
// mesos-go's own reader refuses records over 4 MiB unless told otherwise,
// and then allocates half the limit up front; this one refuses records over
// max before reading them and allocates what each record needs.
type frameReader struct {
	r   *bufio.Reader
	max uint64
	buf []byte
}

func newFrameReader(r io.Reader, max int) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 64<<10), max: uint64(max)}
}

// ReadFrame returns the next record's payload, valid until the next call.
// It returns io.EOF at a clean end between records, io.ErrUnexpectedEOF
// inside one. Zero-length records (Mesos sends none) are skipped.
func (f *frameReader) ReadFrame() ([]byte, error) {
	for {
		n, err := f.readLength()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			continue
		}
		if n > f.max {
			return nil, fmt.Errorf("%w: %d bytes, limit %d (raise MaxEventBytes)", errFrameTooLarge, n, f.max)
		}
		if uint64(cap(f.buf)) < n {
			f.buf = make([]byte, n)
		}
		frame := f.buf[:n]
		if cap(f.buf) > keptBufferBytes {
			f.buf = nil
		}
		if _, err := io.ReadFull(f.r, frame); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("RecordIO record of %d bytes: %w", n, err)
		}
		return frame, nil
	}
}

// readLength reads "<decimal length>\n".
func (f *frameReader) readLength() (uint64, error) {
	var n uint64
	digits := 0
	for {
		b, err := f.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) && digits > 0 {
				return 0, fmt.Errorf("RecordIO length: %w", io.ErrUnexpectedEOF)
			}
			return 0, err
		}
		if b == '\n' {
			if digits == 0 {
				return 0, errors.New("RecordIO length: empty")
			}
			return n, nil
		}
		if b < '0' || b > '9' {
			return 0, fmt.Errorf("RecordIO length: unexpected byte %q", b)
		}
		digits++
		d := uint64(b - '0')
		if digits > maxLengthDigits || n > (^uint64(0)-d)/10 {
			return 0, errors.New("RecordIO length: over 64 bits")
		}
		n = n*10 + d
	}
}
