package exec

import (
	"math"
	"math/big"
	"testing"
)

func TestCheckedArithmetic(t *testing.T) {
	for _, c := range []struct {
		a, b int64
		ok   bool
	}{
		{1, 2, true}, {math.MaxInt64, 0, true}, {math.MaxInt64, 1, false}, {math.MaxInt64 - 5, 5, true},
		{math.MinInt64, -1, false}, {math.MinInt64, math.MaxInt64, true}, {-3, 3, true},
	} {
		s, err := addI64(c.a, c.b)
		if (err == nil) != c.ok || c.ok && s != c.a+c.b {
			t.Errorf("addI64(%d, %d) = %d, %v", c.a, c.b, s, err)
		}
		if _, isRefusal := asTxError(err); err != nil && !isRefusal {
			t.Errorf("addI64 error %v is not a refusal", err)
		}
	}
	for _, c := range []struct {
		a, b int64
		ok   bool
	}{
		{5, 3, true}, {0, math.MaxInt64, true}, {-2, math.MaxInt64, false}, {math.MinInt64, 1, false},
		{math.MaxInt64, -1, false}, {math.MinInt64 + 1, 1, true}, {3, 5, true},
	} {
		d, err := subI64(c.a, c.b)
		if (err == nil) != c.ok || c.ok && d != c.a-c.b {
			t.Errorf("subI64(%d, %d) = %d, %v", c.a, c.b, d, err)
		}
	}
	for _, c := range []struct {
		a, b, d int64
		ok      bool
	}{
		{1000, 7000, 10000, true}, {math.MaxInt64, 7000, 10000, true}, {math.MaxInt64, 10000, 10000, true},
		{math.MaxInt64, 10001, 10000, false}, {math.MaxInt64, math.MaxInt64, 1, false}, {3, 3333, 10000, true},
		{-1, 5, 10, false}, {1, -5, 10, false}, {1, 5, 0, false}, {math.MaxInt64, math.MaxInt64, math.MaxInt64, true},
	} {
		q, err := mulDiv(c.a, c.b, c.d)
		if (err == nil) != c.ok {
			t.Errorf("mulDiv(%d, %d, %d) = %d, %v", c.a, c.b, c.d, q, err)
			continue
		}
		if c.ok {
			want := new(big.Int).Div(new(big.Int).Mul(big.NewInt(c.a), big.NewInt(c.b)), big.NewInt(c.d))
			if want.Int64() != q {
				t.Errorf("mulDiv(%d, %d, %d) = %d, want %s", c.a, c.b, c.d, q, want)
			}
		}
	}
}
