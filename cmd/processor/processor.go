package main

import (
	"github.com/tidemark/tidemark/cli"
	_ "github.com/tidemark/tidemark/operators/builtin" // registers the built-in operators in plugin.Default()
	"github.com/tidemark/tidemark/plugin"
)

func main() {
	cli.Main(plugin.Default())
}
