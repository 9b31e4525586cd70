package policy

import (
	"runtime"
	"sync"
)

// Evaluations run on long-lived goroutines whose stacks have already
// grown. OPA's evaluator recurses deeply: on a new goroutine (every
// ext_proc stream starts on one) the stack grows from 8 KiB by doubling,
// each time copying what it holds, which doubled the shipped policies'
// evaluation (BenchmarkSubmissionPolicies, goroutine=fresh against
// goroutine=reused) and was a tenth of the control plane's CPU at
// saturation.
//
// A worker parks with stackPad bytes of its stack in use, so the garbage
// collector, which halves a stack that uses less than a quarter of it,
// leaves it at up to four times that between evaluations.
const stackPad = 64 << 10

type stackPool struct {
	once sync.Once
	jobs chan func()
}

var evaluators stackPool

// run runs f on a worker, or on the calling goroutine when every worker
// is busy, and returns when f has. A panic in f is raised again on the
// calling goroutine, as if f had run there.
func (p *stackPool) run(f func()) {
	p.once.Do(func() {
		p.jobs = make(chan func())
		for range 4 * runtime.GOMAXPROCS(0) {
			go p.worker()
		}
	})
	done := make(chan struct{})
	var failure any
	job := func() {
		defer func() {
			failure = recover()
			close(done)
		}()
		f()
	}
	select {
	case p.jobs <- job:
		<-done
		if failure != nil {
			panic(failure)
		}
	default:
		f()
	}
}

func (p *stackPool) worker() {
	var pad [stackPad]byte
	p.serve(&pad)
}

//go:noinline
func (p *stackPool) serve(pad *[stackPad]byte) {
	pad[0] = 1 // the pad stays in use while the worker waits
	for f := range p.jobs {
		f()
	}
	_ = pad[0]
}
