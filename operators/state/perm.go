package state

import (
	"io"
	"os"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Modes of what the state backend creates: state is private to the
// processor's user. Pebble itself would create its directories 0755 and
// its files 0666 less the umask; privateFS narrows them.
const (
	dirMode  os.FileMode = 0o700
	fileMode os.FileMode = 0o600
)

// privateFS is the operating system's file system for Pebble, creating
// directories 0700 and files 0600 whatever the umask.
type privateFS struct{ vfs.FS }

func (p privateFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := p.FS.Create(name, category)
	if err != nil {
		return f, err
	}
	if err := os.Chmod(name, fileMode); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

func (p privateFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := p.FS.OpenReadWrite(name, category, opts...)
	if err != nil {
		return f, err
	}
	if err := os.Chmod(name, fileMode); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

func (p privateFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := p.FS.ReuseForWrite(oldname, newname, category)
	if err != nil {
		return f, err
	}
	if err := os.Chmod(newname, fileMode); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

func (p privateFS) MkdirAll(dir string, _ os.FileMode) error { return p.FS.MkdirAll(dir, dirMode) }

func (p privateFS) Unwrap() vfs.FS { return p.FS }

func (p privateFS) Lock(name string) (io.Closer, error) {
	c, err := p.FS.Lock(name)
	if err != nil {
		return c, err
	}
	if err := os.Chmod(name, fileMode); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}
