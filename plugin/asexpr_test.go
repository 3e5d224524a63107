package plugin_test

import (
	"errors"

	"github.com/tidemark/tidemark/plugin"
)

func asExprError(err error, target **plugin.ExprError) bool { return errors.As(err, target) }
