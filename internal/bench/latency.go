package bench

import (
	"slices"
	"time"
)

// Latencies are exact percentiles of one endpoint's request latencies,
// in milliseconds.
type Latencies struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// summarize sorts ds and returns its percentiles by nearest rank: the
// p-th percentile is the smallest latency that at least p% of the
// requests did not exceed.
func summarize(ds []time.Duration) Latencies {
	if len(ds) == 0 {
		return Latencies{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return Latencies{
		P50: ms(rank(ds, 50)), P90: ms(rank(ds, 90)), P99: ms(rank(ds, 99)),
		Max: ms(ds[len(ds)-1]), Mean: ms(sum / time.Duration(len(ds))),
	}
}

// rank returns the nearest-rank p-th percentile of the sorted ds.
func rank(ds []time.Duration, p int) time.Duration {
	i := (len(ds)*p + 99) / 100 // ceil(n * p / 100), 1-based
	return ds[max(i, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
