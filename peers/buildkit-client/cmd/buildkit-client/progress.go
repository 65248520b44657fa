package main

import (
	"fmt"
	"io"

	"github.com/moby/buildkit/client"
)

// printProgress writes each step once when it ends (or fails) and the steps' own output, in
// plain lines: enough to see why a build failed, nothing a test parses.
func printProgress(w io.Writer, ch <-chan *client.SolveStatus) {
	done := map[string]bool{}
	for s := range ch {
		for _, v := range s.Vertexes {
			key := v.Digest.String()
			if v.Completed == nil || done[key] {
				continue
			}
			done[key] = true
			switch {
			case v.Error != "":
				fmt.Fprintf(w, "ERROR %s: %s\n", v.Name, v.Error)
			case v.Cached:
				fmt.Fprintf(w, "CACHED %s\n", v.Name)
			default:
				fmt.Fprintf(w, "DONE %s (%.2fs)\n", v.Name, v.Completed.Sub(*v.Started).Seconds())
			}
		}
		for _, l := range s.Logs {
			w.Write(l.Data)
		}
	}
}
