package main

import (
	"runtime/debug"
	"testing"
)

func TestTuneGCLeavesGOGCToTheOperator(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })

	tuneGC(func(string) string { return "50" })
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set, the target became %d; want it left alone", got)
	}
	tuneGC(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != serveGCPercent {
		t.Errorf("without GOGC, the target is %d; want %d", got, serveGCPercent)
	}
}
