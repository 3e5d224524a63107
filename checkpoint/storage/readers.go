package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// ctxReader fails reads once ctx is done, so that a long copy stops when
// its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// copyExact copies exactly size bytes from r to w and checks that r ends
// there: fewer or more bytes fail with ErrSizeMismatch.
func copyExact(w io.Writer, r io.Reader, size int64) error {
	n, err := io.CopyN(w, r, size)
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: reader ended after %d of %d bytes", ErrSizeMismatch, n, size)
	}
	if err != nil {
		return err
	}
	return expectEOF(r, size)
}

// readExact fills buf from r, failing with ErrSizeMismatch if r ends early;
// done and total only go into that error's text.
func readExact(r io.Reader, buf []byte, done, total int64) error {
	n, err := io.ReadFull(r, buf)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: reader ended after %d of %d bytes", ErrSizeMismatch, done+int64(n), total)
	}
	return err
}

// expectEOF checks that r has nothing left after size bytes.
func expectEOF(r io.Reader, size int64) error {
	var b [1]byte
	n, err := io.ReadAtLeast(r, b[:], 1)
	if n > 0 {
		return fmt.Errorf("%w: reader has more than %d bytes", ErrSizeMismatch, size)
	}
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// checkSize rejects a negative size.
func checkSize(size int64) error {
	if size < 0 {
		return fmt.Errorf("%w: negative size %d", ErrSizeMismatch, size)
	}
	return nil
}
