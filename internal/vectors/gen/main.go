// Command gen writes the token test vectors to testdata/vectors.json:
//
//	go run ./internal/vectors/gen [-o testdata/vectors.json]
package main

import (
	"flag"
	"log"
	"os"

	"github.com/agentmint/agentmint/internal/vectors"
)

func main() {
	out := flag.String("o", "testdata/vectors.json", "file to write")
	flag.Parse()
	b, err := vectors.Generate()
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		log.Fatal(err)
	}
}
