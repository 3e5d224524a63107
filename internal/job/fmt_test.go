package job_test

import "fmt"

var fmtSscanf = fmt.Sscanf
