package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// outputs are the files one run writes.
type outputs struct {
	dir  string // results.json, results.md, results.png, logs/
	json string
	md   string
	plot string
	logs string
	// docsMD and docsPlot are the committed figures, set only with
	// -publish: docs/performance.md, whose results section the run
	// replaces, and docs/performance.png.
	docsMD   string
	docsPlot string
}

// outputPaths decides where a run writes: everything under outDir (by
// default the benchmark module's out/, which git ignores), and the
// committed docs/performance.md and docs/performance.png of the service at
// serviceDir only when publish is set. A smoke run therefore never changes
// the published figures.
func outputPaths(outDir, benchDir, serviceDir string, publish bool) outputs {
	if outDir == "" {
		outDir = filepath.Join(benchDir, "out")
	}
	o := outputs{
		dir:  outDir,
		json: filepath.Join(outDir, "results.json"),
		md:   filepath.Join(outDir, "results.md"),
		plot: filepath.Join(outDir, "results.png"),
		logs: filepath.Join(outDir, "logs"),
	}
	if publish {
		o.docsMD = filepath.Join(serviceDir, "docs", "performance.md")
		o.docsPlot = filepath.Join(serviceDir, "docs", "performance.png")
	}
	return o
}

// The markers around the results section of docs/performance.md, which
// -publish replaces; the text around them is written by hand.
const (
	resultsBegin = "<!-- results: written by `go -C tools/bench run . -publish`, do not edit by hand -->"
	resultsEnd   = "<!-- end of results -->"
)

// report prints the table and writes results.json, results.md and the plot
// to the output directory and, when out says so, publishes them to docs/.
func report(res *results, out outputs, stdout io.Writer) error {
	plotted := len(res.Throughput) > 0
	if err := writePlot(out.plot, res); err != nil {
		res.problem(fmt.Errorf("plot: %w", err))
		plotted = false
	}
	if err := writeJSON(out.json, res); err != nil {
		return err
	}
	var md bytes.Buffer
	if err := writeMarkdown(&md, res); err != nil {
		return err
	}
	if err := os.WriteFile(out.md, md.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if err := writeText(stdout, res); err != nil {
		return err
	}
	wrote := []string{out.json, out.md}
	if plotted {
		wrote = append(wrote, out.plot)
	}
	fmt.Fprintf(stdout, "\nwrote %s\n", strings.Join(wrote, ", "))
	if out.docsMD == "" {
		return nil
	}
	if len(res.Problems) > 0 || !plotted {
		fmt.Fprintf(stdout, "not published: the run had problems or no throughput; %s and %s are unchanged\n", out.docsMD, out.docsPlot)
		return nil
	}
	if err := publish(res, out); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	fmt.Fprintf(stdout, "published %s, %s\n", out.docsMD, out.docsPlot)
	return nil
}

// publish copies the plot to docs/ and replaces the results section of
// docs/performance.md, leaving the hand-written text around it alone.
func publish(res *results, out outputs) error {
	doc, err := os.ReadFile(out.docsMD)
	if err != nil {
		return err
	}
	section := "\n![requests/s per variant](performance.png)\n\n" + markdownBody(res) + "\n"
	updated, err := replaceSection(string(doc), section)
	if err != nil {
		return fmt.Errorf("%s: %w", out.docsMD, err)
	}
	png, err := os.ReadFile(out.plot)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out.docsPlot, png, 0o644); err != nil {
		return err
	}
	return os.WriteFile(out.docsMD, []byte(updated), 0o644)
}

// replaceSection puts section between the results markers of doc.
func replaceSection(doc, section string) (string, error) {
	before, rest, ok := strings.Cut(doc, resultsBegin)
	if !ok {
		return "", errors.New("no results section: the line " + resultsBegin + " is missing")
	}
	_, after, ok := strings.Cut(rest, resultsEnd)
	if !ok {
		return "", errors.New("the results section does not end: the line " + resultsEnd + " is missing")
	}
	return before + resultsBegin + "\n" + strings.Trim(section, "\n") + "\n\n" + resultsEnd + after, nil
}
