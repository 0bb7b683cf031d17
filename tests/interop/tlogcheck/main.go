// Command tlogcheck verifies Lienthong's signed checkpoints and proofs with the
// transparency-dev implementations (an independent check, run by
// tests/interop/test_go_tlog.py): it reads one JSON object on standard input and
// prints "ok", or the first error and exits 1. Given a witness key and a cosigned
// checkpoint, it also opens that note with the log's and the witness's keys, both of
// whose signatures must verify.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

type input struct {
	VerifierKey string   `json:"verifier_key"`
	Old         string   `json:"old_checkpoint"`
	New         string   `json:"new_checkpoint"`
	Leaf        []byte   `json:"leaf"`
	LeafIndex   uint64   `json:"leaf_index"`
	Inclusion   [][]byte `json:"inclusion"`
	Consistency [][]byte `json:"consistency"`
	WitnessKey  string   `json:"witness_key"`
	Cosigned    string   `json:"cosigned_checkpoint"`
}

func main() {
	if err := run(); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("ok")
}

func run() error {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		return fmt.Errorf("input: %w", err)
	}
	verifier, err := note.NewVerifier(in.VerifierKey)
	if err != nil {
		return fmt.Errorf("verifier key: %w", err)
	}
	old, _, _, err := log.ParseCheckpoint([]byte(in.Old), verifier.Name(), verifier)
	if err != nil {
		return fmt.Errorf("old checkpoint: %w", err)
	}
	current, _, _, err := log.ParseCheckpoint([]byte(in.New), verifier.Name(), verifier)
	if err != nil {
		return fmt.Errorf("new checkpoint: %w", err)
	}
	leafHash := rfc6962.DefaultHasher.HashLeaf(in.Leaf)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, in.LeafIndex, old.Size, leafHash, in.Inclusion, old.Hash); err != nil {
		return fmt.Errorf("inclusion: %w", err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old.Size, current.Size, in.Consistency, old.Hash, current.Hash); err != nil {
		return fmt.Errorf("consistency: %w", err)
	}
	if in.WitnessKey == "" {
		return nil
	}
	return cosigned(verifier, in.WitnessKey, in.Cosigned)
}

// cosigned checks that the note verifies with the log's key and with the witness's.
func cosigned(log note.Verifier, witnessKey, text string) error {
	witness, err := note.NewVerifier(witnessKey)
	if err != nil {
		return fmt.Errorf("witness key: %w", err)
	}
	n, err := note.Open([]byte(text), note.VerifierList(log, witness))
	if err != nil {
		return fmt.Errorf("cosigned: %w", err)
	}
	signed := map[string]bool{}
	for _, sig := range n.Sigs {
		signed[sig.Name] = true
	}
	if !signed[log.Name()] || !signed[witness.Name()] {
		return fmt.Errorf("cosigned: verified by %v, not by both the log and the witness", signed)
	}
	return nil
}
