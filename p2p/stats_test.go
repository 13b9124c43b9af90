package p2p

import (
	"reflect"
	"testing"
)

// TestStatsAddEveryField: Add sums every counter, so a counter added to
// Stats later and forgotten in Add fails here.
func TestStatsAddEveryField(t *testing.T) {
	var a, b Stats
	n := uint64(1)
	var fill func(v reflect.Value, scale uint64)
	fill = func(v reflect.Value, scale uint64) {
		for i := range v.NumField() {
			f := v.Field(i)
			switch f.Kind() {
			case reflect.Uint64:
				f.SetUint(n * scale)
				n++
			case reflect.Struct:
				fill(f, scale)
			default:
				t.Fatalf("Stats field %s of kind %s: teach this test and Add about it", v.Type().Field(i).Name, f.Kind())
			}
		}
	}
	fill(reflect.ValueOf(&a).Elem(), 1)
	n = 1
	fill(reflect.ValueOf(&b).Elem(), 1000)
	sum := a.Add(b)
	var check func(s, x, y reflect.Value, path string)
	check = func(s, x, y reflect.Value, path string) {
		for i := range s.NumField() {
			name := path + s.Type().Field(i).Name
			if s.Field(i).Kind() == reflect.Struct {
				check(s.Field(i), x.Field(i), y.Field(i), name+".")
				continue
			}
			if got, want := s.Field(i).Uint(), x.Field(i).Uint()+y.Field(i).Uint(); got != want {
				t.Errorf("%s: %d, want %d", name, got, want)
			}
		}
	}
	check(reflect.ValueOf(sum), reflect.ValueOf(a), reflect.ValueOf(b), "")
}
