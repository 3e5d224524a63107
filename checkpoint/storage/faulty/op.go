package faulty

import (
	"math/bits"
	"strings"
)

// Op is a set of Store operations, to select which calls a rule or a
// latency applies to and which calls to count.
type Op uint8

// Operations, each its own bit; combine them with |.
const (
	OpPut Op = 1 << iota
	OpPutIfAbsent
	OpGet
	OpStat
	OpList
	OpDelete

	// OpWrite is every operation that changes the store.
	OpWrite = OpPut | OpPutIfAbsent | OpDelete
	// OpRead is every operation that only reads.
	OpRead = OpGet | OpStat | OpList
	// OpAll is every operation but Close.
	OpAll = OpWrite | OpRead
)

const numOps = 6

var opNames = [numOps]string{"put", "put-if-absent", "get", "stat", "list", "delete"}

// String names the operations in o, joined by "|".
func (o Op) String() string {
	if o == 0 {
		return "none"
	}
	var names []string
	for i := range numOps {
		if o&(1<<i) != 0 {
			names = append(names, opNames[i])
		}
	}
	return strings.Join(names, "|")
}

// index is the position of a single-operation Op's bit.
func (o Op) index() int { return bits.TrailingZeros8(uint8(o)) }
