package main

import (
	"runtime"
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

func TestTuneProcsLeavesGOMAXPROCSToTheOperator(t *testing.T) {
	t.Cleanup(func() { runtime.GOMAXPROCS(startProcs) })

	runtime.GOMAXPROCS(startProcs)
	tuneProcs(func(string) string { return "2" })
	if got := runtime.GOMAXPROCS(0); got != startProcs {
		t.Errorf("with GOMAXPROCS set, it became %d; want %d left alone", got, startProcs)
	}
	// Twice, as a process that serves twice would: one spare P, not two.
	for range 2 {
		tuneProcs(func(string) string { return "" })
	}
	if got := runtime.GOMAXPROCS(0); got != startProcs+1 {
		t.Errorf("without GOMAXPROCS, it is %d; want %d", got, startProcs+1)
	}
}
