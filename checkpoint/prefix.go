package checkpoint

import (
	"context"
	"io"
	"strings"

	"github.com/tidemark/tidemark/checkpoint/storage"
)

// JobStore returns st seen from the job's root, <root>/<job>/: every key
// the checkpoint package uses is relative to it.
func JobStore(st storage.Store, job string) storage.Store {
	return prefixed{st: st, prefix: job + "/"}
}

type prefixed struct {
	st     storage.Store
	prefix string
}

func (p prefixed) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	return p.st.Put(ctx, p.prefix+key, r, size)
}

func (p prefixed) PutIfAbsent(ctx context.Context, key string, r io.Reader, size int64) error {
	return p.st.PutIfAbsent(ctx, p.prefix+key, r, size)
}

func (p prefixed) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return p.st.Get(ctx, p.prefix+key)
}

func (p prefixed) Stat(ctx context.Context, key string) (storage.Info, error) {
	in, err := p.st.Stat(ctx, p.prefix+key)
	in.Key = strings.TrimPrefix(in.Key, p.prefix)
	return in, err
}

func (p prefixed) List(ctx context.Context, prefix string) ([]storage.Info, error) {
	infos, err := p.st.List(ctx, p.prefix+prefix)
	for i := range infos {
		infos[i].Key = strings.TrimPrefix(infos[i].Key, p.prefix)
	}
	return infos, err
}

func (p prefixed) Delete(ctx context.Context, key string) error {
	return p.st.Delete(ctx, p.prefix+key)
}

func (p prefixed) Close() error { return p.st.Close() }
