package main

// cleanups is a stack of undo steps: whatever the benchmark starts or
// creates pushes the step that stops or removes it, and run undoes them in
// reverse order, on success, on error and on Ctrl-C alike.
type cleanups struct {
	steps []func()
}

// add pushes one undo step.
func (c *cleanups) add(step func()) {
	c.steps = append(c.steps, step)
}

// run undoes every step, the newest first, and empties the stack.
func (c *cleanups) run() {
	for i := len(c.steps) - 1; i >= 0; i-- {
		c.steps[i]()
	}
	c.steps = nil
}
