package ipsecconf

// The scalar values of ipsec.conf settings: durations and booleans.

import (
	"fmt"
	"strconv"
	"time"
)

// ipsecDuration reads FreeS/WAN durations: a number of seconds, or a
// number with s, m, h or d.
func ipsecDuration(v string) (time.Duration, error) {
	unit := time.Second
	num := v
	if n := len(v); n > 0 {
		switch v[n-1] {
		case 's':
			num = v[:n-1]
		case 'm':
			unit, num = time.Minute, v[:n-1]
		case 'h':
			unit, num = time.Hour, v[:n-1]
		case 'd':
			unit, num = 24*time.Hour, v[:n-1]
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || f > 1e7 {
		return 0, fmt.Errorf("want a duration such as 3600, 60m, 8h or 1d, got %q", v)
	}
	return time.Duration(f * float64(unit)), nil
}

func yesNo(v string) (bool, error) {
	switch v {
	case "yes", "true", "1":
		return true, nil
	case "no", "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("want yes or no, got %q", v)
}
