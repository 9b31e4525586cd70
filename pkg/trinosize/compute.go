package trinosize

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// Sizing constants. The comments in Compute's rules say where each comes
// from.
const (
	// Heap share of the node's memory: 70% below highHeapFrom, 80% from it.
	lowHeapPercent  = 70
	highHeapPercent = 80
	highHeapFrom    = 32 * GiB

	// Heaps from wholeGiBHeapFrom are rounded down to a whole GiB, smaller
	// ones to a multiple of smallHeapStep.
	wholeGiBHeapFrom = 8 * GiB
	smallHeapStep    = 64 * MiB

	// G1HeapRegionSize=32M only for heaps of this size or more.
	regionSizeHeapFrom = 16 * GiB

	headroomPercent = 30 // memory.heap-headroom-per-node, Trino's default share of the heap
	perNodePercent  = 50 // query.max-memory-per-node, of the pool (heap - headroom)

	minTaskConcurrency = 2
	maxTaskConcurrency = 32
	fteTaskConcurrency = 8 // Trino 476's task.concurrency with retry-policy=TASK

	minExchangeThreads = 25 // exchange.client-threads, Trino's default
	maxExchangeThreads = 128

	bufferHeapDivisor = 256 // exchange.max-buffer-size, sink.max-buffer-size = heap / 256 ...
	minBuffer         = 32 * MiB
	maxBuffer         = 256 * MiB

	fteTaskMemory            = 5 * GiB // fault-tolerant-execution-task-memory, Trino's default
	fteCoordinatorTaskMemory = 2 * GiB // fault-tolerant-execution-coordinator-task-memory, Trino's default
	fteTaskMemoryPercent     = 25      // of the pool: at least four tasks a node

	minSinkBufferPool  = 10 // exchange.sink-buffer-pool-min-size, Trino's default
	maxSinkBufferPool  = 64
	minSourceReaders   = 4 // exchange.source-concurrent-readers, Trino's default
	maxSourceReaders   = 16
	cpusPerReader      = 4
	minSpillerThreads  = 4 // spiller-threads: 2 per spill directory, at least 4
	spillerThreadsEach = 2

	productionHeap = 32 * GiB // Trino's docs recommend heaps beyond 32GB for production
	smallNode      = 16 * GiB
)

// node is the memory sizing of one node.
type node struct {
	memory   int64
	percent  int64 // heap share of memory
	heap     int64
	headroom int64 // memory.heap-headroom-per-node
	pool     int64 // heap - headroom: the memory pool queries share
	perNode  int64 // query.max-memory-per-node
}

func sizeNode(memory int64) node {
	n := node{memory: memory, percent: lowHeapPercent}
	if memory >= highHeapFrom {
		n.percent = highHeapPercent
	}
	heap := percentOf(memory, n.percent)
	if heap >= wholeGiBHeapFrom {
		n.heap = heap / GiB * GiB
	} else {
		n.heap = heap / smallHeapStep * smallHeapStep
	}
	n.headroom = roundUp(percentOf(n.heap, headroomPercent)+boolInt(percentRem(n.heap, headroomPercent)), MiB)
	n.pool = n.heap - n.headroom
	n.perNode = percentOf(n.pool, perNodePercent) / MiB * MiB
	return n
}

// heapRounding says how the heap was rounded, for rules.
func (n node) heapRounding() string {
	if n.heap >= wholeGiBHeapFrom {
		return "rounded down to a whole GiB"
	}
	return "rounded down to a multiple of 64MiB"
}

// percentOf is p% of b rounded down, without overflow (0 <= p <= 100).
func percentOf(b, p int64) int64 { return b/100*p + b%100*p/100 }

// percentRem reports whether p% of b has a fractional part.
func percentRem(b, p int64) bool { return b%100*p%100 != 0 }

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func roundUp(b, step int64) int64 { return (b + step - 1) / step * step }

func clamp(v, lo, hi int64) int64 { return max(lo, min(v, hi)) }

// tooSmall is the error for a node below MinMemory.
func tooSmall(what string, memory int64) error {
	return fmt.Errorf("%s with %s of memory is too small to run Trino: the calculator needs at least %s (a heap of at least 1.4GiB)", what, human(memory), human(MinMemory))
}

func (in Input) validate() error {
	switch in.Role {
	case Coordinator, Worker:
	default:
		return fmt.Errorf("role %q: want coordinator or worker", in.Role)
	}
	if in.Memory < MinMemory {
		return tooSmall("a node", in.Memory)
	}
	if in.Cores < 1 {
		return fmt.Errorf("a node with %d CPUs is too small to run Trino: the calculator needs at least 1 CPU", in.Cores)
	}
	if in.Workers < 0 {
		return fmt.Errorf("--workers %d: want the number of workers in the cluster (0 or more)", in.Workers)
	}
	if in.Role == Coordinator && in.Workers < 1 {
		return fmt.Errorf("a coordinator needs --workers, the number of workers in the cluster (1 or more), to size query.max-memory")
	}
	if in.WorkerMemory != 0 && in.WorkerMemory < MinMemory {
		return fmt.Errorf("--worker-memory: %w", tooSmall("a worker", in.WorkerMemory))
	}
	for _, d := range []struct{ flag, dirs string }{{"--exchange-dir", in.ExchangeDir}, {"--spill-dir", in.SpillDir}} {
		if strings.IndexFunc(d.dirs, unicode.IsControl) >= 0 {
			return fmt.Errorf("%s %q: a directory name with a control character", d.flag, d.dirs)
		}
		if d.dirs == "" {
			continue
		}
		for _, p := range strings.Split(d.dirs, ",") {
			if strings.TrimSpace(p) == "" {
				return fmt.Errorf("%s %q: an empty directory in the comma-separated list", d.flag, d.dirs)
			}
		}
	}
	return nil
}

// Compute sizes the node described by in. It fails on input it cannot
// size (a node under 2GiB or without a CPU, a coordinator without
// --workers), never on a result Trino would refuse: it checks that
// memory.heap-headroom-per-node + query.max-memory-per-node stays below
// the heap.
func Compute(in Input) (Result, error) {
	if err := in.validate(); err != nil {
		return Result{}, err
	}
	this := sizeNode(in.Memory)
	workerMemory := in.WorkerMemory
	if workerMemory == 0 {
		workerMemory = in.Memory
	}
	worker := sizeNode(workerMemory)
	for _, n := range []node{this, worker} {
		if n.headroom+n.perNode >= n.heap {
			return Result{}, fmt.Errorf("internal error: headroom %s + query.max-memory-per-node %s is not below the %s heap of a %s node", human(n.headroom), human(n.perNode), human(n.heap), human(n.memory))
		}
	}
	var maxMemory int64
	if in.Workers > 0 {
		if worker.perNode > math.MaxInt64/2/int64(in.Workers) {
			return Result{}, fmt.Errorf("--workers %d: query.max-total-memory (2 × %d × %s) is too large to write", in.Workers, in.Workers, human(worker.perNode))
		}
		maxMemory = int64(in.Workers) * worker.perNode
	}
	c := &computation{in: in, this: this, worker: worker, workerMemory: workerMemory, maxMemory: maxMemory}
	r := Result{Files: []File{c.jvmConfig(), c.configProperties()}, Notes: c.notes()}
	if in.FTE {
		r.Files = append(r.Files, c.exchangeManager())
	}
	return r, nil
}

type computation struct {
	in           Input
	this, worker node
	workerMemory int64
	maxMemory    int64 // query.max-memory; 0 when the number of workers is unknown
}

func (c *computation) exchangeDir() string {
	if c.in.ExchangeDir == "" {
		return DefaultExchangeDir
	}
	return c.in.ExchangeDir
}

func (c *computation) spillDir() string {
	if c.in.SpillDir == "" {
		return DefaultSpillDir
	}
	return c.in.SpillDir
}

func (c *computation) jvmConfig() File {
	n := c.this
	heapUnit := "G"
	heapValue := n.heap / GiB
	if n.heap < wholeGiBHeapFrom {
		heapUnit, heapValue = "M", n.heap/MiB
	}
	why := "below 32GiB to leave room for the OS, metaspace, code cache, thread stacks and direct buffers"
	if n.percent == highHeapPercent {
		why = "from 32GiB, where the fixed off-heap needs are a smaller share"
	}
	g1 := "G1, the collector Trino is built and tested for; explicit because the JVM falls back to the Serial collector on a machine it sees as small (under 2 CPUs or 1792MiB), which a container limit can make it"
	if n.heap < regionSizeHeapFrom {
		g1 += fmt.Sprintf("; no G1HeapRegionSize for a %s heap: Trino's 32M is for heaps of 16GiB and more, and G1's own choice (a power of two from 1MiB, aiming at 2048 regions) keeps enough regions", human(n.heap))
	}
	f := File{Name: JVMConfig}
	add := func(option, rule string) { f.Entries = append(f.Entries, Entry{Key: option, Rule: rule}) }
	add("-server", "Trino 476's recommended jvm.config starts with it: the server VM (the only one in 64-bit JDKs)")
	add(fmt.Sprintf("-Xmx%d%s", heapValue, heapUnit), fmt.Sprintf(
		"heap = %d%% of %s node memory, %s (Trino 476: 70-85%% of physical memory, e.g. -Xmx54G on 64GB; %d%% %s); no -XX:InitialRAMPercentage/MaxRAMPercentage: an explicit -Xmx overrides them",
		n.percent, human(n.memory), n.heapRounding(), n.percent, why))
	add("-XX:+UseG1GC", g1)
	if n.heap >= regionSizeHeapFrom {
		add("-XX:G1HeapRegionSize=32M", fmt.Sprintf("Trino 476's recommended region size, for heaps of 16GiB and more (this one: %s): fewer, larger regions, so fewer large arrays are humongous objects (half a region or more)", human(n.heap)))
	}
	add("-XX:+ExplicitGCInvokesConcurrent", "Trino 476 recommended: System.gc() (NIO calls it when direct memory runs short) starts a concurrent G1 cycle, not a stop-the-world full collection")
	add("-XX:+ExitOnOutOfMemoryError", "Trino 476 recommended: an OutOfMemoryError leaves the JVM in an inconsistent state, so exit and let the supervisor restart the node")
	add("-XX:+HeapDumpOnOutOfMemoryError", fmt.Sprintf("Trino 476 recommended: write a heap dump for debugging before exiting (up to the %s heap in size: leave disk room or set -XX:HeapDumpPath)", human(n.heap)))
	add("-XX:-OmitStackTraceInFastThrow", "Trino 476 recommended: keep stack traces on exceptions the JIT would otherwise throw preallocated without one, so repeated failures stay diagnosable")
	add("-XX:ReservedCodeCacheSize=512M", "Trino 476 recommended: Trino generates bytecode for every query and a full code cache stops the JIT (address space reserved, memory committed only as used)")
	add("-XX:PerMethodRecompilationCutoff=10000", "Trino 476 recommended: let the JIT recompile a method up to 10000 times instead of leaving it interpreted after 400 deoptimizations (queries slowing down many times over)")
	add("-XX:PerBytecodeRecompilationCutoff=10000", "Trino 476 recommended: the same per bytecode (the JVM's default cutoff is 200)")
	add("-Djdk.attach.allowAttachSelf=true", "Trino 476 recommended: let the JVM attach to itself, which the JOL object-size measurement Trino uses relies on")
	add("-Djdk.nio.maxCachedBufferSize=2000000", "Trino 476 recommended: NIO caches a temporary direct buffer per thread; caching only buffers up to 2MB stops hundreds of threads pinning large off-heap buffers")
	add("-Dfile.encoding=UTF-8", "Trino 476 recommended: UTF-8 as the default charset (the default since Java 18, JEP 400; explicit as in Trino's docs)")
	add("-XX:+EnableDynamicAgentLoading", "Trino 476 recommended: allow the agent JOL loads at run time to measure object sizes, without the JDK's warning (JEP 451)")
	return f
}

func (c *computation) taskConcurrency() (int64, string) {
	cores := int64(c.in.Cores)
	v := int64(1)
	for v*2 <= cores {
		v *= 2
	}
	v = clamp(v, minTaskConcurrency, maxTaskConcurrency)
	rule := fmt.Sprintf("%d CPUs: the largest power of two up to the CPUs, between 2 and 32 (it must be a power of two; Trino 476's default is the physical core count rounded up to one, 2-32, made explicit because a JVM in a container can count the host's cores)", cores)
	if c.in.FTE {
		if v > fteTaskConcurrency {
			v = fteTaskConcurrency
		}
		rule += "; at most 8 with retry-policy=TASK, Trino 476's default there (more, narrower tasks a node)"
	}
	return v, rule
}

func (c *computation) configProperties() File {
	in, n, w := c.in, c.this, c.worker
	f := File{Name: ConfigProperties}
	add := func(key, value, rule string) {
		f.Entries = append(f.Entries, Entry{Key: key, Value: value, Rule: rule})
	}
	coordinator := in.Role == Coordinator

	if coordinator {
		add("coordinator", "true", "role coordinator: this node accepts queries and schedules them")
		add("node-scheduler.include-coordinator", "false", fmt.Sprintf("a dedicated coordinator runs no query splits, so scheduling and monitoring keep its CPUs and memory (Trino's docs, for clusters beyond a test machine); the %d workers run the queries", in.Workers))
	} else {
		add("coordinator", "false", "role worker: this node runs tasks the coordinator schedules")
	}
	add("memory.heap-headroom-per-node", FormatSize(n.headroom), fmt.Sprintf(
		"%d%% of the %s heap, rounded up to a whole MiB: memory for allocations Trino does not track (Trino's default share, written out to check the pool against)",
		headroomPercent, human(n.heap)))
	add("query.max-memory-per-node", FormatSize(n.perNode), fmt.Sprintf(
		"half the query memory pool (%s heap - %s headroom = %s), so two queries at this limit fit the node side by side; with the headroom %s, below the heap as Trino requires (its default is 30%% of the heap; not applied with retry-policy=TASK)",
		human(n.heap), human(n.headroom), human(n.pool), human(n.headroom+n.perNode)))
	if c.maxMemory > 0 {
		rule := fmt.Sprintf("%d workers × %s, the query.max-memory-per-node of a %s worker: a query may use its per-node limit on every worker (Trino's default is 20GB; not applied with retry-policy=TASK)",
			in.Workers, human(w.perNode), human(c.workerMemory))
		if !coordinator {
			rule += "; only the coordinator enforces it (Trino 476 accepts it on a worker and ignores it), written so every node's file agrees"
		}
		add("query.max-memory", FormatSize(c.maxMemory), rule)
		add("query.max-total-memory", FormatSize(2*c.maxMemory), "2 × query.max-memory, Trino's default ratio written out (it must be greater than query.max-memory); the difference is revocable memory, which spilling operators use")
	}

	concurrency, concurrencyRule := c.taskConcurrency()
	add("task.concurrency", strconv.FormatInt(concurrency, 10), concurrencyRule)
	cores := int64(in.Cores)
	add("task.max-worker-threads", strconv.FormatInt(2*cores, 10), fmt.Sprintf("2 × %d CPUs, Trino's default rule, explicit because a JVM in a container can count the host's CPUs", cores))
	add("exchange.client-threads", strconv.FormatInt(clamp(2*cores, minExchangeThreads, maxExchangeThreads), 10), fmt.Sprintf(
		"2 × %d CPUs, at least 25 (Trino's fixed default, enough up to 12 CPUs) and at most 128: a fetching thread per split thread on larger nodes (Trino's docs: more threads help large or busy clusters, too many cost context switches and memory)", cores))
	buffer := clamp(n.heap/bufferHeapDivisor/MiB*MiB, minBuffer, maxBuffer)
	bufferRule := fmt.Sprintf("heap/256 (%s heap), between 32MiB (Trino's default) and 256MiB: ", human(n.heap))
	bufferBudget := "; a buffer is at most 1/256 of the heap, so 38 full buffers (exchange and sink together) stay within 15% of it, half the 30% headroom"
	if buffer*bufferHeapDivisor > n.heap {
		// The 32MiB floor: more than 1/256 of a small heap.
		bufferBudget = fmt.Sprintf("; on a %s heap the 32MiB floor is more than 1/256 of it: %d full buffers fill the %s headroom, so a small node can only run a few exchanges at once", human(n.heap), n.headroom/buffer, human(n.headroom))
	}
	add("exchange.max-buffer-size", FormatSize(buffer), bufferRule+"data fetched from other nodes waiting to be processed; a larger node fetches more at once (Trino's docs: more network throughput, less memory for other uses)"+bufferBudget)
	add("sink.max-buffer-size", FormatSize(buffer), bufferRule+"task output waiting to be pulled by the next stage (Trino's docs: larger helps with high network latency or many nodes)"+bufferBudget)

	if in.FTE {
		add("retry-policy", "TASK", "--fte: retry failed tasks rather than whole queries (Trino: for large batch queries; needs the exchange manager in exchange-manager.properties); on every node, as workers read it too (it makes exchange.compression-codec LZ4 and task.concurrency 8 by default)")
		if coordinator {
			taskMemory := min(fteTaskMemory, percentOf(w.pool, fteTaskMemoryPercent)/MiB*MiB)
			add("fault-tolerant-execution-task-memory", FormatSize(taskMemory), fmt.Sprintf(
				"min(5GB, Trino's default; 25%% of the %s query memory pool of a %s worker): the scheduler's first estimate of a task's memory, so at least four tasks fit a worker; a task that runs out is retried with more",
				human(w.pool), human(c.workerMemory)))
			coordinatorTaskMemory := min(fteCoordinatorTaskMemory, percentOf(n.pool, fteTaskMemoryPercent)/MiB*MiB)
			add("fault-tolerant-execution-coordinator-task-memory", FormatSize(coordinatorTaskMemory), fmt.Sprintf(
				"min(2GB, Trino's default; 25%% of this coordinator's %s query memory pool): the estimate for the tasks that run on the coordinator, so they fit it",
				human(n.pool)))
			add("task.low-memory-killer.policy", "total-reservation-on-blocked-nodes", "Trino's fault-tolerant execution docs strongly recommend it when memory properties are set, as here: kill the tasks holding most memory on a node that ran out, so they are retried (476's default, explicit); not query.low-memory-killer.delay, which Trino 476 refuses as a defunct property")
			add("exchange.deduplication-buffer-size", "32MB", "Trino's default, explicit: the coordinator's buffer for stage output under fault-tolerant execution; with the exchange manager configured, output beyond it is spooled instead of failing the query")
		}
	}

	if in.Spill {
		dirs := strings.Split(c.spillDir(), ",")
		add("spill-enabled", "true", "--spill: joins, aggregations, sorts and window functions spill revocable memory to disk instead of failing (Trino's docs: slower, and not a guarantee); on every node, as the coordinator's value is the session default and workers spill")
		add("spiller-spill-path", c.spillDir(), "--spill-dir: comma-separated directories, ideally one a local disk; not the system drive nor the one with the JVM logs (Trino's docs)")
		add("spiller-max-used-space-threshold", "0.9", "Trino's default, explicit: a spill directory more than 90% full takes no more spill")
		add("spiller-threads", strconv.Itoa(max(minSpillerThreads, spillerThreadsEach*len(dirs))), fmt.Sprintf("2 a spill directory (%d here), at least 4: Trino's documented default; raise it only if the disks are not saturated (e.g. RAID)", len(dirs)))
		add("spill-compression-codec", "LZ4", "compress spilled pages with LZ4: less disk I/O for a little CPU (Trino 476: NONE, LZ4 or ZSTD, default NONE; spill-compression-enabled is its legacy name)")
		add("max-spill-per-node", "100GB", "Trino's default, explicit: spill space for all queries on this node; set it below the free space of the spill directories, which the calculator does not know")
		add("query-max-spill-per-node", "100GB", "Trino's default, explicit: spill space for one query on this node, at most max-spill-per-node")
		add("memory-revoking-threshold", "0.9", "Trino's default, explicit: start spilling (revoking memory) when the node's query memory pool is 90% full")
		add("memory-revoking-target", "0.5", "Trino's default, explicit: revoke until the pool is 50% full, so spilling happens in large batches rather than page by page")
	}
	return f
}

func (c *computation) exchangeManager() File {
	cores := int64(c.in.Cores)
	f := File{Name: ExchangeManagerProperties}
	add := func(key, value, rule string) {
		f.Entries = append(f.Entries, Entry{Key: key, Value: value, Rule: rule})
	}
	add("exchange-manager.name", "filesystem", "--fte: the filesystem exchange manager spools task output so failed tasks can be retried; this file goes on the coordinator and every worker")
	add("exchange.base-directories", c.exchangeDir(), "--exchange-dir: a local directory works only if every node shares it (Trino's docs: local storage for standalone, non-production clusters); for S3 or MinIO use exchange.base-directories=s3://bucket with exchange.s3.region, exchange.s3.endpoint (MinIO's URL) and exchange.s3.path-style-access=true (MinIO), and exchange.s3.aws-access-key/exchange.s3.aws-secret-key or exchange.s3.iam-role")
	add("exchange.sink-buffer-pool-min-size", strconv.FormatInt(clamp(cores, minSinkBufferPool, maxSinkBufferPool), 10), fmt.Sprintf(
		"%d CPUs, between 10 (Trino's default) and 64: a buffer a CPU keeps uploads parallel when a task writes few partitions (Trino's docs: a larger pool, more write parallelism and memory); a buffer is the storage's write size (5MB S3 parts, exchange.s3.upload.part-size), so at most 320MB a task", cores))
	add("exchange.sink-buffers-per-partition", "2", "Trino's default, explicit: one buffer filling while the other uploads; a task writing 50 partitions (Trino's maximum) holds 100 buffers, 500MB on S3")
	add("exchange.sink-max-file-size", "1GB", "Trino's default, explicit: larger files mean fewer objects to list, but more data to write again when a task is retried")
	add("exchange.source-concurrent-readers", strconv.FormatInt(clamp(cores/cpusPerReader, minSourceReaders, maxSourceReaders), 10), fmt.Sprintf(
		"%d CPUs / 4, between 4 (Trino's default) and 16: a reader for every 4 CPUs feeds the drivers of a larger node (Trino's docs: more readers, more read parallelism and memory)", cores))
	return f
}

func (c *computation) notes() []string {
	in, n := c.in, c.this
	notes := []string{}
	switch {
	case in.Memory < smallNode:
		notes = append(notes, fmt.Sprintf("a node with %s of memory is fine for tests and demos, small for production (Trino's docs recommend a heap beyond 32GB for production clusters; this one is %s)", human(in.Memory), human(n.heap)))
	case n.heap <= productionHeap:
		notes = append(notes, fmt.Sprintf("this node's %s heap works, but Trino's docs recommend a heap beyond 32GB for production clusters: 42GiB of memory or more gives one", human(n.heap)))
	}
	if in.Role == Coordinator && in.WorkerMemory == 0 {
		notes = append(notes, fmt.Sprintf("query.max-memory assumes workers with %s of memory like this coordinator: pass --worker-memory if theirs differs", human(in.Memory)))
	}
	if in.Role == Worker && in.Workers == 0 {
		notes = append(notes, "no query.max-memory for this worker: the coordinator enforces it (pass --workers to write it here too)")
	}
	if in.FTE && !strings.Contains(c.exchangeDir(), "://") {
		notes = append(notes, fmt.Sprintf("exchange.base-directories=%s is a local path: every node must see the same shared directory, or use s3://bucket (Trino's docs recommend local exchange storage only for standalone, non-production clusters)", c.exchangeDir()))
	}
	if in.FTE && in.Spill {
		notes = append(notes, "--fte with --spill: Trino 476 still spills under retry-policy=TASK, but the per-query limits spill helps queries stay under (query.max-memory, query.max-memory-per-node) do not apply there: a task that runs out of memory is retried with more")
	}
	return notes
}
