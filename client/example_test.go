package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/govnode/govnode/client"
	"github.com/govnode/govnode/crypto"
	pb "github.com/govnode/govnode/proto/govnode/v1"
)

// Dial a node and read its status. A host:port is reached over http; a
// https:// URL (or WithCAFile) over TLS.
func ExampleDial() {
	c, err := client.Dial(nodeAddr, client.WithTimeout(10*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	st, err := c.Status(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("chain:", st.GetChainId())
	// Output:
	// chain: nodetest
}

// Submit a record and wait for its commit: Submit fills in the chain id,
// the signer and its next nonce, signs, submits and waits.
func ExampleClient_Submit() {
	ctx := context.Background()
	c, err := client.Dial(nodeAddr)
	if err != nil {
		fmt.Println(err)
		return
	}
	official, err := client.LoadSigner("dept0-official", officialKeyFile, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	body := client.MustTx(&pb.CreateRecord{
		RecordId: "example-land-1", RecordType: "land_title", SubjectId: "citizen0",
		Content: []byte(`{"parcel":"12-34"}`),
	})
	r, err := c.Submit(ctx, official, body, client.SubmitOptions{Wait: true, WaitTimeout: 20 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("action:", r.Action)
	fmt.Println("committed:", r.Committed)
	fmt.Println("result:", r.Result.GetCode())
	fmt.Println("ok:", r.Err() == nil)
	// Output:
	// action: create_record
	// committed: true
	// result: RESULT_CODE_OK
	// ok: true
}

// A protected record's content never goes on chain: Submit sends it beside
// the tx, and the tx carries its commitment.
func ExampleClient_Submit_protected() {
	ctx := context.Background()
	c, _ := client.Dial(nodeAddr)
	official, _ := client.LoadSigner("dept0-official", officialKeyFile, "")
	body := client.MustTx(&pb.CreateRecord{
		RecordId: "example-birth-1", RecordType: "birth_certificate", SubjectId: "citizen1",
		Content: []byte(`{"name":"Ada"}`),
	})
	r, err := c.Submit(ctx, official, body, client.SubmitOptions{Wait: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("committed:", r.Committed, r.Result.GetCode())
	fmt.Println("payloads sent beside the tx:", len(r.Payloads))
	fmt.Println("content in the tx:", len(body.GetCreateRecord().GetContent()))
	// Output:
	// committed: true RESULT_CODE_OK
	// payloads sent beside the tx: 1
	// content in the tx: 0
}

// Read a record with a proof, checked against the chain's genesis: the
// genesis document is trusted only if it hashes to the hash the
// application was given.
func ExampleClient_VerifiedRecord() {
	ctx := context.Background()
	c, _ := client.Dial(nodeAddr)
	official, _ := client.LoadSigner("dept0-official", officialKeyFile, "")
	if _, err := c.Submit(ctx, official, client.MustTx(&pb.CreateRecord{
		RecordId: "example-land-2", RecordType: "land_title", SubjectId: "citizen0", Content: []byte("parcel 56-78"),
	}), client.SubmitOptions{Wait: true}); err != nil {
		fmt.Println(err)
		return
	}

	doc, err := os.ReadFile(genesisFile)
	if err != nil {
		fmt.Println(err)
		return
	}
	anchor, err := client.AnchorFromGenesis(doc, trustedHash)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, proof, err := c.VerifiedRecord(ctx, anchor, &pb.QueryRecordRequest{RecordId: "example-land-2"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("record:", m.GetRecord().GetId(), m.GetRecord().GetRecordType())
	fmt.Println("verified:", proof.Anchored)
	fmt.Println("certified by:", proof.Signers, "of", proof.Validators, "validators")

	// The whole history, proven offline from the genesis hash alone.
	_, rep, err := c.VerifyRecordBundle(ctx, "example-land-2", 0, trustedHash)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("bundle verified:", rep.OK, "versions:", len(rep.Versions))
	// Output:
	// record: example-land-2 land_title
	// verified: true
	// certified by: 1 of 1 validators
	// bundle verified: true versions: 1
}

// Follow the chain's events from a height on. The loop sees each block once,
// in order; after a disconnect Follow resumes at the block after the last
// one delivered. Stopping the loop ends the stream; another Follow from the
// next height resumes where it stopped.
func ExampleClient_Follow() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _ := client.Dial(nodeAddr)
	official, _ := client.LoadSigner("dept0-official", officialKeyFile, "")
	r, err := c.Submit(ctx, official, client.MustTx(&pb.CreateRecord{
		RecordId: "example-land-3", RecordType: "land_title", SubjectId: "citizen1", Content: []byte("parcel 9"),
	}), client.SubmitOptions{Wait: true})
	if err != nil {
		fmt.Println(err)
		return
	}

	filter := &pb.StreamEventsRequest{FromHeight: 1, RecordTypes: []string{"land_title"}, SubjectIds: []string{"citizen1"}}
	var last uint64
	for blk, err := range c.Follow(ctx, filter, client.FollowOptions{}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, e := range blk.GetEvents() {
			fmt.Println("event:", e.GetRecord().GetAction(), e.GetRecord().GetRecordId())
		}
		last = blk.GetHeight()
		if last >= r.Height {
			break
		}
	}
	// Resume after the last block seen.
	for blk, err := range c.Follow(ctx, &pb.StreamEventsRequest{FromHeight: last + 1}, client.FollowOptions{}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("resumed at the next block:", blk.GetHeight() == last+1)
		break
	}
	// Output:
	// event: created example-land-3
	// resumed at the next block: true
}

// A sealed tender bid: only the commitment goes on chain with the bid; the
// secret (salt, price, fields) stays with the bidder until the reveal,
// which the chain checks against the commitment.
func ExampleNewSealedBid() {
	fields := []*pb.ContractField{{Name: "delivery_days", Value: &pb.ContractField_IntValue{IntValue: 30}}}
	bid, err := client.NewSealedBid(crypto.Ed25519SHA256, "tender-1", "company0", 250000, fields)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := bid.Bid() // submit with client.Submit, signed by company0
	fmt.Println("action:", client.ActionName(body))
	fmt.Println("commitment bytes:", len(body.GetSubmitBid().GetCommitment()))
	fmt.Println("price on chain before the reveal:", body.GetSubmitBid().GetCommitment() == nil)

	reveal, err := bid.Reveal() // after the bid deadline
	fmt.Println("reveal:", client.ActionName(reveal), err == nil, reveal.GetRevealBid().GetPrice())

	bid.Price = 200000 // a changed secret no longer opens the commitment
	_, err = bid.Reveal()
	fmt.Println("changed bid refused:", errors.Is(err, client.ErrBidChanged))
	// Output:
	// action: submit_bid
	// commitment bytes: 32
	// price on chain before the reveal: false
	// reveal: reveal_bid true 250000
	// changed bid refused: true
}
