// Command processor is Tidemark's one binary: it validates a configuration
// file and runs the stream-processing job it describes. Its commands live
// in package cli (cli.Main), which a program of its own calls to add
// operators; this one has the built-in operators. Run "processor --help"
// for its commands.
package main
