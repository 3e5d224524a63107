package expression

import (
	"fmt"
	"strconv"
	"time"
)

// The named time layouts of format_time and parse_time.
const (
	LayoutSQL         = "sql"          // 2006-01-02 15:04:05.000 (parse: 0 to 9 fraction digits)
	LayoutDate        = "date"         // 2006-01-02
	LayoutRFC3339     = "rfc3339"      // 2006-01-02T15:04:05.000Z07:00 (parse: any RFC 3339)
	LayoutEpochMillis = "epoch_millis" // decimal ms since the epoch
	LayoutAuto        = "auto"         // parse only: RFC 3339, else sql
)

const (
	goSQL     = "2006-01-02 15:04:05.000"
	goDate    = "2006-01-02"
	goRFC3339 = "2006-01-02T15:04:05.000Z07:00"
)

// FormatTime formats ms (since the epoch) in UTC with a named layout
// (sql, date, rfc3339, epoch_millis) or a Go time layout.
func FormatTime(ms int64, layout string) string {
	switch layout {
	case LayoutSQL:
		return appendSQL(make([]byte, 0, len(goSQL)), ms)
	case LayoutDate:
		layout = goDate
	case LayoutRFC3339:
		layout = goRFC3339
	case LayoutEpochMillis:
		return strconv.FormatInt(ms, 10)
	}
	return time.UnixMilli(ms).UTC().Format(layout)
}

// appendSQL writes ms as yyyy-MM-dd HH:mm:ss.SSS in UTC.
func appendSQL(dst []byte, ms int64) string {
	t := time.UnixMilli(ms).UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return t.Format(goSQL)
	}
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	dst = append4(dst, y)
	dst = append(dst, '-')
	dst = append2(dst, int(mo))
	dst = append(dst, '-')
	dst = append2(dst, d)
	dst = append(dst, ' ')
	dst = append2(dst, h)
	dst = append(dst, ':')
	dst = append2(dst, mi)
	dst = append(dst, ':')
	dst = append2(dst, s)
	dst = append(dst, '.')
	f := t.Nanosecond() / 1e6
	dst = append(dst, byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
	return string(dst)
}

func append2(dst []byte, n int) []byte { return append(dst, byte('0'+n/10), byte('0'+n%10)) }

func append4(dst []byte, n int) []byte {
	return append(dst, byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
}

// ParseTime reads s as a time with a named layout (sql, date, rfc3339,
// epoch_millis, auto) or a Go time layout (UTC unless it has a zone) and
// returns ms since the epoch, truncating finer digits.
func ParseTime(s, layout string) (int64, error) {
	switch layout {
	case LayoutSQL:
		if ms, ok := parseSQL(s); ok {
			return ms, nil
		}
		return 0, fmt.Errorf("cannot parse %q as a sql time (yyyy-MM-dd HH:mm:ss[.fff], UTC)", s)
	case LayoutDate:
		layout = goDate
	case LayoutRFC3339:
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, fmt.Errorf("cannot parse %q as an RFC 3339 time", s)
		}
		return t.UnixMilli(), nil
	case LayoutEpochMillis:
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cannot parse %q as epoch milliseconds", s)
		}
		return ms, nil
	case LayoutAuto:
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UnixMilli(), nil
		}
		if ms, ok := parseSQL(s); ok {
			return ms, nil
		}
		return 0, fmt.Errorf("cannot parse %q as a time: neither RFC 3339 nor sql (yyyy-MM-dd HH:mm:ss[.fff])", s)
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return 0, fmt.Errorf("cannot parse %q with layout %q", s, layout)
	}
	return t.UnixMilli(), nil
}

// parseSQL reads yyyy-MM-dd HH:mm:ss with an optional fraction of 1 to 9
// digits, in UTC, without allocating.
func parseSQL(s string) (int64, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	y, ok1 := digits(s[0:4])
	mo, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	h, ok4 := digits(s[11:13])
	mi, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return 0, false
	}
	if mo < 1 || mo > 12 || d < 1 || d > daysIn(mo, y) || h > 23 || mi > 59 || sec > 59 {
		return 0, false
	}
	var ms int64
	if rest := s[19:]; rest != "" {
		if rest[0] != '.' || len(rest) < 2 || len(rest) > 10 {
			return 0, false
		}
		for i := 1; i < len(rest); i++ {
			c := rest[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			if i <= 3 {
				ms = ms*10 + int64(c-'0')
			}
		}
		for i := len(rest); i <= 3; i++ {
			ms *= 10
		}
	}
	days := daysFromCivil(y, mo, d)
	return ((days*24+int64(h))*60+int64(mi))*60*1000 + int64(sec)*1000 + ms, true
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is the number of days from 1970-01-01 to y-m-d in the
// proleptic Gregorian calendar (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
