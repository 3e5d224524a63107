// Command processor is Tidemark's one binary: it validates a configuration
// file and runs the stream-processing job it describes. Run
// "processor --help" for its commands.
package main
