package reference_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/nexmark/reference"
)

func TestQ0(t *testing.T) {
	in := one(
		bid(1001, 2002, 700, 2, "b"),
		person(1001, "Ann Lee", "Bend", "OR", 1),
		bid(1000, 2001, 500, 1, `back\slash "q"`),
	)
	r := reference.Q0(in)
	a := `{"auction":1000,"bidder":2001,"price":500,"dateTime":"2025-01-01 00:00:00.001","extra":"back\\slash \"q\""}`
	b := `{"auction":1001,"bidder":2002,"price":700,"dateTime":"2025-01-01 00:00:00.002","extra":"b"}`
	wantLines(t, r, a, b)
	// Any order, any field order; exactly the columns.
	if err := r.Check(records(b, `{"extra":"back\\slash \"q\"","dateTime":"2025-01-01 00:00:00.001","price":500,"bidder":2001,"auction":1000}`)); err != nil {
		t.Errorf("Check: %v", err)
	}
	for name, recs := range map[string][]reference.Record{
		"missing":    records(a),
		"duplicate":  records(a, b, b),
		"other time": records(a, strings.Replace(b, "00.002", "00.2", 1)),
		"extra key":  records(a, strings.Replace(b, `"extra"`, `"colour":"red","extra"`, 1)),
		"float int":  records(a, strings.Replace(b, "700", "700.0", 1)),
		"not json":   records(a, "{"),
	} {
		if err := r.Check(recs); !errors.Is(err, reference.ErrMismatch) {
			t.Errorf("Check(%s) = %v, want ErrMismatch", name, err)
		}
	}
	err := r.Check(records(a))
	if err == nil || !strings.Contains(err.Error(), "1 missing: "+b) {
		t.Errorf("Check(missing) does not name the row: %v", err)
	}
}

func TestQ1(t *testing.T) {
	r := reference.Q1(one(bid(1000, 2001, 100, 0, "x"), bid(1000, 2001, 12345, 0, "y"), bid(1000, 2001, 100_000_000, 0, "z")))
	wantLines(t, r,
		`{"auction":1000,"bidder":2001,"price":90.800,"dateTime":"2025-01-01 00:00:00.000","extra":"x"}`,
		`{"auction":1000,"bidder":2001,"price":11209.260,"dateTime":"2025-01-01 00:00:00.000","extra":"y"}`,
		`{"auction":1000,"bidder":2001,"price":90800000.000,"dateTime":"2025-01-01 00:00:00.000","extra":"z"}`,
	)
	row := func(price string, extra string) string {
		return `{"auction":1000,"bidder":2001,"price":` + price + `,"dateTime":"2025-01-01 00:00:00.000","extra":"` + extra + `"}`
	}
	// The processor writes round_to(price * 0.908, 3) as a float.
	if err := r.Check(records(row("90.8", "x"), row("11209.26", "y"), row("9.08e+07", "z"))); err != nil {
		t.Errorf("Check: %v", err)
	}
	for _, bad := range []string{"90.80000000000001", `"90.8"`, "90.9", "91"} {
		if err := r.Check(records(row(bad, "x"), row("11209.26", "y"), row("90800000", "z"))); !errors.Is(err, reference.ErrMismatch) {
			t.Errorf("price %s accepted: %v", bad, err)
		}
	}
}

func TestQ2(t *testing.T) {
	r := reference.Q2(one(bid(1107, 1, 5, 0, ""), bid(1108, 1, 6, 0, ""), bid(1230, 1, 7, 0, ""), bid(1107, 2, 8, 0, "")))
	wantLines(t, r, `{"auction":1107,"price":5}`, `{"auction":1107,"price":8}`, `{"auction":1230,"price":7}`)
}

func TestQ3(t *testing.T) {
	r := reference.Q3(one(
		person(1001, "Ann Lee", "Bend", "OR", 0),
		person(1002, "Bo Ek", "Kent", "WA", 0),
		auction(5000, 1001, 10, 1, 100),
		auction(5001, 1002, 10, 1, 100), // WA
		auction(5002, 1003, 11, 1, 100), // category 11
		auction(5003, 1003, 10, 1, 100), // before its seller arrives
		person(1003, "Cy Ng", "Boise", "CA", 2),
		auction(5004, 1001, 10, 3, 100),
		auction(5005, 1004, 10, 3, 100), // no such person
		person(1005, "Di Ro", "Boise", "ID", 4),
		auction(5006, 1005, 10, 5, 100),
	))
	wantLines(t, r,
		`{"name":"Ann Lee","city":"Bend","state":"OR","id":5000}`,
		`{"name":"Ann Lee","city":"Bend","state":"OR","id":5004}`,
		`{"name":"Cy Ng","city":"Boise","state":"CA","id":5003}`,
		`{"name":"Di Ro","city":"Boise","state":"ID","id":5006}`,
	)
}

func TestQ4(t *testing.T) {
	r := reference.Q4(one(
		bid(103, 1, 7, 5, ""), // arrives before its auction: still joins
		auction(100, 1, 10, 1000, 5000),
		bid(100, 1, 900, 999, ""), // before the start
		bid(100, 1, 50, 1000, ""), // at the start
		bid(100, 1, 70, 5000, ""), // at the expiry
		bid(100, 1, 1000, 5001, ""),
		auction(101, 1, 10, 2000, 3000),
		bid(101, 1, 25, 2500, ""),
		auction(102, 1, 11, 0, 100000), // no bid: no category 11
		auction(103, 1, 12, 0, 10),
		bid(999, 1, 5, 0, ""), // no such auction
	))
	// Category 10: (70 + 25) / 2 = 47.5, truncated.
	wantLines(t, r, `10 => {"id":10,"final":47}`, `12 => {"id":12,"final":7}`)
	// Final value per key: earlier values and tombstones are superseded.
	ok := upserts("10", `{"id":10,"final":70}`, "12", `{"id":12,"final":7}`, "10", `{"final":47,"id":10}`,
		"11", `{"id":11,"final":1}`, "11", "")
	if err := r.Check(ok); err != nil {
		t.Errorf("Check: %v", err)
	}
	for name, recs := range map[string][]reference.Record{
		"stale value":   upserts("10", `{"id":10,"final":47}`, "12", `{"id":12,"final":7}`, "10", `{"id":10,"final":70}`),
		"deleted":       upserts("10", `{"id":10,"final":47}`, "12", `{"id":12,"final":7}`, "12", ""),
		"extra key":     upserts("10", `{"id":10,"final":47}`, "12", `{"id":12,"final":7}`, "11", `{"id":11,"final":1}`),
		"key encoding":  upserts(`[10]`, `{"id":10,"final":47}`, "12", `{"id":12,"final":7}`),
		"float average": upserts("10", `{"id":10,"final":47.5}`, "12", `{"id":12,"final":7}`),
	} {
		if err := r.Check(recs); !errors.Is(err, reference.ErrMismatch) {
			t.Errorf("Check(%s) = %v, want ErrMismatch", name, err)
		}
	}
}

func TestQ5(t *testing.T) {
	// Window edges: a bid at a window start is in it, one at end − 1 too,
	// one at the end in the next; ties all win.
	r := reference.Q5(one(bid(1, 1, 1, 0, ""), bid(2, 1, 1, 1999, ""), bid(2, 1, 1, 2000, "")))
	// Windows [s, s+10 s), s = −8 s … 0: [−8, 2) holds the first two (a tie
	// of auctions 1 and 2); [−6, 4) … [0, 10) hold all three (auction 2
	// with 2); [2, 12) holds the last.
	wantLines(t, r,
		`{"auction":1,"num":1}`,
		`{"auction":2,"num":1}`, `{"auction":2,"num":1}`,
		`{"auction":2,"num":2}`, `{"auction":2,"num":2}`, `{"auction":2,"num":2}`, `{"auction":2,"num":2}`,
	)
	// Late: after a bid at 20 s the watermark is 16 s. A bid at 9 s then
	// counts only in [8, 18) (the windows ending by 16 s have fired); one at
	// 5 s is in fired windows only: dropped.
	r = reference.Q5(one(bid(1, 1, 1, 20000, ""), bid(2, 1, 1, 9000, ""), bid(3, 1, 1, 5000, "")))
	wantLines(t, r,
		`{"auction":1,"num":1}`, `{"auction":1,"num":1}`, `{"auction":1,"num":1}`, `{"auction":1,"num":1}`, `{"auction":1,"num":1}`,
		`{"auction":2,"num":1}`,
	)
}

func TestQ7(t *testing.T) {
	r := reference.Q7(one(
		bid(1, 11, 100, 1000, "b1"),
		bid(2, 12, 300, 5000, "b2"),
		bid(3, 13, 300, 9999, "b3"),
		bid(4, 14, 300, 10000, "b4"), // the end of window 0 and in window 1
		bid(5, 15, 200, 15000, "b5"),
		bid(7, 17, 50, 30000, "b7"),  // watermark 26 s
		bid(6, 16, 1000, 2000, "b6"), // late: not in window 0's maximum
		bid(8, 18, 300, 3000, "b8"),  // late, but the (regular) join matches it
	))
	row := func(a, p, b int64, tm, x string) string {
		return `{"auction":` + itoa(a) + `,"price":` + itoa(p) + `,"bidder":` + itoa(b) + `,"dateTime":"2025-01-01 ` + tm + `","extra":"` + x + `"}`
	}
	wantLines(t, r,
		row(2, 300, 12, "00:00:05.000", "b2"),
		row(3, 300, 13, "00:00:09.999", "b3"),
		row(4, 300, 14, "00:00:10.000", "b4"),
		row(4, 300, 14, "00:00:10.000", "b4"),
		row(7, 50, 17, "00:00:30.000", "b7"),
		row(8, 300, 18, "00:00:03.000", "b8"),
	)
}

func TestQ8(t *testing.T) {
	r := reference.Q8(one(
		person(1001, "Ann Lee", "Bend", "OR", 100),
		auction(1, 1001, 10, 9999, 20000), // same window [0, 10)
		person(1002, "Bo Ek", "Kent", "WA", 9999),
		auction(2, 1002, 10, 10000, 20000), // next window: no match
		person(1003, "Cy Ng", "Boise", "CA", 12000),
		auction(3, 1003, 10, 13000, 20000),
		auction(4, 1003, 10, 14000, 20000), // two auctions, one row
		auction(5, 1006, 10, 19000, 20000),
		auction(6, 9999, 10, 30000, 40000),         // watermark 26 s
		person(1004, "Di Ro", "Bend", "OR", 21000), // behind, window [20, 30) still open
		auction(7, 1004, 10, 25000, 40000),
		person(1005, "Ed Fu", "Kent", "WA", 15000), // window [10, 20) fired: dropped
		auction(8, 1005, 10, 16000, 40000),
		person(1006, "Flo Ma", "Kent", "WA", 18000), // dropped; its seller's auction was on time
	))
	wantLines(t, r,
		`{"id":1001,"name":"Ann Lee","stime":"2025-01-01 00:00:00.000"}`,
		`{"id":1003,"name":"Cy Ng","stime":"2025-01-01 00:00:10.000"}`,
		`{"id":1004,"name":"Di Ro","stime":"2025-01-01 00:00:20.000"}`,
	)
}

func TestQ11(t *testing.T) {
	row := func(b, n int64, start, end string) string {
		return `{"bidder":` + itoa(b) + `,"bid_count":` + itoa(n) + `,"starttime":"` + start + `","endtime":"` + end + `"}`
	}
	// Bids exactly 10 s apart share a session; 10.001 s apart do not.
	r := reference.Q11(one(bid(1, 2001, 1, 0, ""), bid(1, 2002, 1, 0, ""), bid(1, 2001, 1, 10000, ""),
		bid(1, 2002, 1, 10001, ""), bid(1, 2001, 1, 20000, "")))
	wantLines(t, r,
		row(2001, 3, "2025-01-01 00:00:00.000", "2025-01-01 00:00:30.000"),
		row(2002, 1, "2025-01-01 00:00:00.000", "2025-01-01 00:00:10.000"),
		row(2002, 1, "2025-01-01 00:00:10.001", "2025-01-01 00:00:20.001"),
	)
	// Late bids.
	r = reference.Q11(one(
		bid(1, 2003, 1, 0, ""),
		bid(1, 2009, 1, 13000, ""), // watermark 9 s
		bid(1, 2003, 1, -5000, ""), // behind, but merges with [0, 10): [−5, 10)
		bid(1, 2004, 1, 1000, ""),  // behind, its window [1, 11) is open
		bid(1, 2005, 1, -2000, ""), // [−2, 8) has ended: dropped
		bid(1, 2009, 1, 25000, ""), // watermark 21 s: 2003's session fires
		bid(1, 2003, 1, 10000, ""), // [10, 20) has ended, nothing to join: dropped
		bid(1, 2003, 1, 12000, ""), // a new session
	))
	wantLines(t, r,
		row(2003, 1, "2025-01-01 00:00:12.000", "2025-01-01 00:00:22.000"),
		row(2003, 2, "2024-12-31 23:59:55.000", "2025-01-01 00:00:10.000"),
		row(2004, 1, "2025-01-01 00:00:01.000", "2025-01-01 00:00:11.000"),
		row(2009, 1, "2025-01-01 00:00:13.000", "2025-01-01 00:00:23.000"),
		row(2009, 1, "2025-01-01 00:00:25.000", "2025-01-01 00:00:35.000"),
	)
}

func TestQ15(t *testing.T) {
	r := reference.Q15(one(
		bid(10, 1, 9999, 0, ""),
		bid(11, 1, 10000, 1, ""),
		bid(11, 2, 999999, 2, ""),
		bid(10, 2, 1000000, 3, ""),
		bid(10, 1, 5, 4, ""),
		bid(12, 3, 100, -1, ""),           // 2024-12-31 23:59:59.999
		bid(12, 3, 1000000, 86399999, ""), // 2025-01-01 23:59:59.999
	))
	wantLines(t, r,
		`2024-12-31 => {"day":"2024-12-31","total_bids":1,"rank1_bids":1,"rank2_bids":0,"rank3_bids":0,`+
			`"total_bidders":1,"rank1_bidders":1,"rank2_bidders":0,"rank3_bidders":0,`+
			`"total_auctions":1,"rank1_auctions":1,"rank2_auctions":0,"rank3_auctions":0}`,
		`2025-01-01 => {"day":"2025-01-01","total_bids":6,"rank1_bids":2,"rank2_bids":2,"rank3_bids":2,`+
			`"total_bidders":3,"rank1_bidders":1,"rank2_bidders":2,"rank3_bidders":2,`+
			`"total_auctions":3,"rank1_auctions":1,"rank2_auctions":1,"rank3_auctions":2}`,
	)
}

func TestQ18(t *testing.T) {
	r := reference.Q18(one(
		bid(1000, 2001, 1, 5, "x1"),
		bid(1000, 2001, 2, 3, "x2"),
		bid(1000, 2002, 3, 1, "y1"),
		bid(1000, 2001, 3, 5, "x3"), // ties x1: the later arrival wins
		bid(1001, 2001, 4, 9, "z1"),
		bid(1001, 2001, 5, 10, "z2"),
	))
	x3 := bidJSON(1000, 2001, 3, "2025-01-01 00:00:00.005", "x3")
	z2 := bidJSON(1001, 2001, 5, "2025-01-01 00:00:00.010", "z2")
	y1 := bidJSON(1000, 2002, 3, "2025-01-01 00:00:00.001", "y1")
	wantLines(t, r, "[2001,1000] => "+x3, "[2001,1001] => "+z2, "[2002,1000] => "+y1)
	if err := r.Check(upserts("[2001,1000]", x3, "[2001,1001]", z2, "[2002,1000]", y1)); err != nil {
		t.Errorf("Check: %v", err)
	}
	// Two partitions: events alternate p0, p1, p0, p1. The ties at 5 ms
	// are x1, x3 (p0) and x2 (p1): the last of each partition can win.
	in := reference.Input{Partitions: 2, Events: []nexmarkEvent{
		bid(1000, 2001, 1, 5, "x1"), bid(1000, 2001, 2, 5, "x2"), bid(1000, 2001, 3, 5, "x3"), bid(1000, 2001, 4, 4, "x4"),
	}}
	r = reference.Q18(in)
	x2 := bidJSON(1000, 2001, 2, "2025-01-01 00:00:00.005", "x2")
	wantLines(t, r, "[2001,1000] => "+x3+" | "+x2)
	for _, v := range []string{x2, x3} {
		if err := r.Check(upserts("[2001,1000]", v)); err != nil {
			t.Errorf("Check(%s): %v", v, err)
		}
	}
	x1 := bidJSON(1000, 2001, 1, "2025-01-01 00:00:00.005", "x1")
	if err := r.Check(upserts("[2001,1000]", x1)); !errors.Is(err, reference.ErrMismatch) {
		t.Errorf("Check(x1) = %v, want ErrMismatch", err)
	}
}

func TestQ19(t *testing.T) {
	prices := []int64{500, 700, 500, 900, 100, 700, 300, 300, 200, 800, 300, 50, 200}
	var evs []nexmarkEvent
	for i, p := range prices {
		evs = append(evs, bid(1000, int64(i+1), p, int64(i), "b"+itoa(int64(i+1))))
	}
	evs = append(evs, bid(1001, 1, 5, 0, "c1"), bid(1001, 2, 6, 1, "c2"))
	r := reference.Q19(one(evs...))
	// Price desc, ties by arrival: b4 900, b10 800, b2 700, b6 700, b1 500,
	// b3 500, b7 300, b8 300, b11 300, b9 200 (b13 200 arrived later).
	ranked := []int{4, 10, 2, 6, 1, 3, 7, 8, 11, 9}
	var want []string
	line := func(auction, bidder, price, ms int64, extra string, rank int) string {
		j := bidJSON(auction, bidder, price, "2025-01-01 00:00:00.0"+pad2(ms), extra)
		return "[" + itoa(auction) + "," + itoa(int64(rank)) + "] => " + strings.TrimSuffix(j, "}") + `,"rank_number":` + itoa(int64(rank)) + "}"
	}
	for rank, b := range ranked {
		want = append(want, line(1000, int64(b), prices[b-1], int64(b-1), "b"+itoa(int64(b)), rank+1))
	}
	want = append(want, line(1001, 2, 6, 1, "c2", 1), line(1001, 1, 5, 0, "c1", 2))
	wantLines(t, r, want...)

	// Two partitions, four bids of one price: c0, c2 in p0 and c1, c3 in p1.
	in := reference.Input{Partitions: 2, Events: []nexmarkEvent{
		bid(2000, 1, 100, 0, "c0"), bid(2000, 2, 100, 1, "c1"), bid(2000, 3, 100, 2, "c2"), bid(2000, 4, 100, 3, "c3"),
	}}
	r = reference.Q19(in)
	c := func(i int, rank int) string {
		return strings.SplitN(line(2000, int64(i+1), 100, int64(i), "c"+itoa(int64(i)), rank), " => ", 2)[1]
	}
	out := func(order ...int) []reference.Record {
		var kv []string
		for rank, i := range order {
			kv = append(kv, "[2000,"+itoa(int64(rank+1))+"]", c(i, rank+1))
		}
		return upserts(kv...)
	}
	for _, ok := range [][]int{{0, 2, 1, 3}, {0, 1, 2, 3}, {1, 3, 0, 2}, {1, 0, 3, 2}} {
		if err := r.Check(out(ok...)); err != nil {
			t.Errorf("order %v: %v", ok, err)
		}
	}
	for _, bad := range [][]int{{2, 0, 1, 3}, {0, 3, 1, 2}, {0, 0, 1, 3}, {0, 1, 2}} {
		if err := r.Check(out(bad...)); !errors.Is(err, reference.ErrMismatch) {
			t.Errorf("order %v accepted: %v", bad, err)
		}
	}
}

func pad2(v int64) string {
	if v < 10 {
		return "0" + itoa(v)
	}
	return itoa(v)
}

func TestQuery(t *testing.T) {
	for _, n := range reference.Names {
		r, err := reference.Query(n, one())
		if err != nil || r.Query != n {
			t.Errorf("Query(%s) = %v, %v", n, r, err)
		}
	}
	if _, err := reference.Query("q6", one()); err == nil {
		t.Error("Query(q6) did not fail")
	}
}
