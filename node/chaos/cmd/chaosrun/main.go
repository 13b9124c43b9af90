// Command chaosrun runs the chaos harness (package node/chaos): seeded
// schedules of faults against a 4-validator govnode network in network
// namespaces, under load, each checked for forks, lost or duplicated
// transactions, stalls and unexpected process exits. Every other schedule
// (-membership-every) is a membership schedule: a fifth department joins
// by governance mid-schedule, with faults around the change, and may leave
// again; it is checked besides for the change having applied. It needs
// root.
//
//	chaosrun -schedules 2 -duration 40s            # a fresh seed, printed
//	chaosrun -schedules 2 -duration 40s -seed 42   # replay seed 42
//	chaosrun -seed 42 -schedules 5 -only 3         # replay schedule 3 alone
//	chaosrun -schedules 1 -crypto-suite sm2-sm3    # on a 国密 (SM2, SM3) chain
//
// The last line is always
//
//	chaos: <n> schedules, <f> forks, <l> lost txs, <s> stalls, max recovery <t>s
//
// and the exit status is 0 when the run held every claim, 1 when a
// schedule found a fork, a lost or duplicated tx, a stall, a death or a
// membership change that did not apply, 2
// when the harness itself failed (set-up, a fault it could not apply,
// interrupted).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/govnode/govnode/crypto"
	"github.com/govnode/govnode/node/chaos"
)

func main() {
	os.Exit(run())
}

func run() int {
	cfg := chaos.DefaultConfig()
	var seed uint64
	kinds := ""
	flag.Uint64Var(&seed, "seed", 0, "run seed (default: from the clock); the same seed gives the same schedules")
	flag.IntVar(&cfg.Schedules, "schedules", cfg.Schedules, "number of schedules")
	flag.IntVar(&cfg.Only, "only", -1, "run only this schedule of the seed (replay)")
	flag.DurationVar(&cfg.Duration, "duration", cfg.Duration, "warm-up and faults per schedule; recovery comes after")
	flag.Float64Var(&cfg.Rate, "rate", cfg.Rate, "offered load, tx/s over all nodes")
	flag.IntVar(&cfg.Accounts, "accounts", cfg.Accounts, "citizen accounts sending load (each one tx at a time)")
	flag.DurationVar(&cfg.StallBound, "stall-bound", cfg.StallBound, "recovery bound after the final heal")
	flag.StringVar(&kinds, "faults", "", "comma-separated fault kinds (default: all)")
	flag.IntVar(&cfg.MemberEvery, "membership-every", cfg.MemberEvery, "make every k-th schedule a membership schedule (a department joins, and may leave, by governance; needs -duration >= 30s); 0: none, 1: all")
	flag.StringVar(&cfg.Bins.Honest, "bin", "", "prebuilt govnode binary (default: build one)")
	flag.StringVar(&cfg.Bins.Byzantine, "byzantine-bin", "", "prebuilt govnode binary built with -tags byzantine (with -bin)")
	flag.BoolVar(&cfg.Keep, "keep", false, "keep the work directory with the node logs")
	suite := flag.String("crypto-suite", crypto.SuiteNameEd25519SHA256, "the chain's crypto suite: "+crypto.SuiteNameEd25519SHA256+" or "+crypto.SuiteNameSM2SM3)
	flag.Parse()
	s, err := crypto.SuiteByName(*suite)
	if err != nil || *suite == "" {
		return fail(chaos.Summary{}, fmt.Errorf("-crypto-suite %q: want %q or %q", *suite, crypto.SuiteNameEd25519SHA256, crypto.SuiteNameSM2SM3))
	}
	cfg.Suite = s
	if !isSet("seed") {
		seed = uint64(time.Now().UnixNano())
	}
	cfg.Seed = seed
	cfg.Out = os.Stdout
	if kinds != "" {
		ks, err := chaos.ParseKinds(kinds)
		if err != nil {
			return fail(chaos.Summary{}, err)
		}
		cfg.Kinds = ks
	}
	fmt.Printf("chaos: seed %d (replay: chaosrun -seed %d -schedules %d -duration %s -membership-every %d -crypto-suite %s)\n", seed, seed, cfg.Schedules, cfg.Duration, cfg.MemberEvery, cfg.Suite)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	sum, err := chaos.Run(ctx, cfg)
	fmt.Printf("chaos: %d acknowledged txs, %d duplicated, %d unexpected deaths, %d membership changes, %d membership findings, %.0fs, seed %d\n",
		sum.Acked, sum.Duplicates, sum.Deaths, sum.Changes, sum.Membership, time.Since(start).Seconds(), seed)
	if err != nil {
		return fail(sum, err)
	}
	fmt.Println(sum.Line())
	if sum.Failed() {
		return 1
	}
	return 0
}

func fail(sum chaos.Summary, err error) int {
	fmt.Printf("chaos: harness failed: %v\n", err)
	fmt.Println(sum.Line())
	return 2
}

func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}
