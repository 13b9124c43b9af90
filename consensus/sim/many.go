package sim

import "sync"

// RunMany runs jobs on `parallel` goroutines and returns the results in job
// order. Each run is independent and deterministic.
func RunMany(jobs []Options, parallel int) []Result {
	parallel = max(parallel, 1)
	out := make([]Result, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = Run(jobs[i])
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}
