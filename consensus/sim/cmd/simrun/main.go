// Command simrun runs the consensus simulator: SEEDS seeded runs per
// configuration, checking safety and liveness on each.
//
//	go run ./consensus/sim/cmd/simrun -seeds 1000          # what `make sim` runs
//	go run ./consensus/sim/cmd/simrun -config byz-4 -seed 42 -v   # replay one run
//
// It ends with "sim: <runs> runs, <s> safety violations, <l> liveness
// failures" and exits 1 if either count is above zero.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/govnode/govnode/consensus/sim"
	"github.com/govnode/govnode/crypto"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		seeds    = flag.Int("seeds", 1000, "seeds per configuration")
		first    = flag.Uint64("start", 1, "first seed")
		one      = flag.Int64("seed", -1, "run only this seed (replay)")
		configs  = flag.String("config", "all", "comma-separated configurations ("+names()+") or all")
		parallel = flag.Int("parallel", runtime.GOMAXPROCS(0), "runs in parallel")
		verbose  = flag.Bool("v", false, "print every run")
		trace    = flag.Bool("trace", false, "with -seed: print every delivered message")
		suiteArg = flag.String("suite", crypto.SuiteNameEd25519SHA256, "crypto suite of the simulated chain: ed25519-sha256 or sm2-sm3")
	)
	flag.Parse()
	suite, err := crypto.SuiteByName(*suiteArg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "-suite:", err)
		return 2
	}
	var cs []sim.Configuration
	if *configs == "all" {
		cs = sim.Configurations
	} else {
		for _, name := range strings.Split(*configs, ",") {
			c, err := sim.ConfigurationByName(strings.TrimSpace(name))
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			cs = append(cs, c)
		}
	}
	var jobs []sim.Options
	for _, c := range cs {
		if *one >= 0 {
			o := sim.Options{Config: c, Seed: uint64(*one), Suite: suite}
			if *trace {
				o.Trace = os.Stdout
			}
			jobs = append(jobs, o)
			continue
		}
		for i := 0; i < *seeds; i++ {
			jobs = append(jobs, sim.Options{Config: c, Seed: *first + uint64(i), Suite: suite})
		}
	}
	start := time.Now()
	results := sim.RunMany(jobs, *parallel)
	var safety, liveness int
	byz := map[string]*sim.Stats{} // per configuration, summed
	for _, r := range results {
		if b := byz[r.Config]; b != nil {
			b.Crafted += r.Stats.Crafted
			b.CraftedStepped += r.Stats.CraftedStepped
			b.CraftedLater += r.Stats.CraftedLater
			b.CraftedLaterInvalid += r.Stats.CraftedLaterInvalid
			b.CraftedOtherEpoch += r.Stats.CraftedOtherEpoch
			b.Evidence += r.Stats.Evidence
			b.EvidenceLater += r.Stats.EvidenceLater
		} else {
			st := r.Stats
			byz[r.Config] = &st
		}
		if *verbose {
			fmt.Printf("%s seed %d: height %d, heal at %d, recovered in %d ticks, %d msgs (%d dropped), %d crashes, %d evidence, %d bad payloads refused\n",
				r.Config, r.Seed, r.Commits, r.HealAt, r.Recovered, r.Stats.Messages, r.Stats.Dropped, r.Stats.Crashes, r.Stats.Evidence, r.Stats.BadPayloadRefused)
		}
		if len(r.Safety) > 0 {
			safety++
			fmt.Printf("SAFETY VIOLATION %s seed %d:\n", r.Config, r.Seed)
			for _, v := range r.Safety {
				fmt.Printf("  %s\n", v)
			}
			fmt.Printf("  replay: %s\n", r.ReplayCommand())
		}
		if r.Liveness != "" {
			liveness++
			fmt.Printf("LIVENESS FAILURE %s seed %d: %s\n  replay: %s\n", r.Config, r.Seed, r.Liveness, r.ReplayCommand())
		}
	}
	for _, c := range cs {
		if b := byz[c.Name]; b != nil && c.Byzantine > 0 {
			fmt.Printf("%s: byzantine made up %d messages; correct replicas stepped %d in their epoch (%d of a later epoch, %d refused as invalid there), dropped %d as another epoch's; %d equivocation evidence (%d of a later epoch)\n",
				c.Name, b.Crafted, b.CraftedStepped, b.CraftedLater, b.CraftedLaterInvalid, b.CraftedOtherEpoch, b.Evidence, b.EvidenceLater)
		}
	}
	fmt.Printf("elapsed %s\n", time.Since(start).Round(time.Millisecond))
	fmt.Printf("sim: %d runs, %d safety violations, %d liveness failures\n", len(results), safety, liveness)
	if safety > 0 || liveness > 0 {
		return 1
	}
	return 0
}

func names() string {
	var n []string
	for _, c := range sim.Configurations {
		n = append(n, c.Name)
	}
	return strings.Join(n, ", ")
}
