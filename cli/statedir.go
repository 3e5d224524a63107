package cli

import (
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/statelock"
)

// lockStateDir gives state.dir to this process for as long as it runs,
// before anything touches it (the embedded broker's data lives there too):
// a second processor on the same directory exits at once, naming the
// holder. Call the returned release when the run ends.
func lockStateDir(cfg *config.Config, log *zap.Logger) (release func(), err error) {
	l, err := statelock.Acquire(cfg.State.Dir)
	if err != nil {
		return nil, err
	}
	log.Info("state directory locked", zap.String("lock_file", l.Path()))
	return func() {
		if err := l.Release(); err != nil {
			log.Warn("release the state directory's lock", zap.Error(err))
		}
	}, nil
}
