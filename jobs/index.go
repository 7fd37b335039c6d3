package jobs

import (
	"slices"
	"sync"
)

// index holds every job in memory, kept current from a watch of the jobs
// bucket, and sorted sets of IDs by pipeline and by status. IDs start with
// their creation millisecond, so ID order is creation order.
type index struct {
	mu         sync.RWMutex
	jobs       map[string]indexed
	all        idSet
	byPipeline map[string]*idSet
	byStatus   map[string]*idSet
}

type indexed struct {
	rev uint64
	job *Job
}

func newIndex() *index {
	return &index{jobs: map[string]indexed{}, byPipeline: map[string]*idSet{}, byStatus: map[string]*idSet{}}
}

// apply records a job at a revision; an older revision than the one held
// is ignored, because the watch and a local write may arrive in any
// order.
func (x *index) apply(id string, rev uint64, rec *record) {
	job := rec.Job.clone()
	x.mu.Lock()
	defer x.mu.Unlock()
	old, ok := x.jobs[id]
	if ok && old.rev >= rev {
		return
	}
	if ok {
		x.set(x.byStatus, old.job.Status).remove(id)
	} else {
		x.all.add(id)
		x.set(x.byPipeline, job.PipelineID).add(id)
	}
	x.set(x.byStatus, job.Status).add(id)
	x.jobs[id] = indexed{rev: rev, job: job}
}

func (x *index) remove(id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	old, ok := x.jobs[id]
	if !ok {
		return
	}
	delete(x.jobs, id)
	x.all.remove(id)
	x.set(x.byPipeline, old.job.PipelineID).remove(id)
	x.set(x.byStatus, old.job.Status).remove(id)
}

func (x *index) set(m map[string]*idSet, k string) *idSet {
	s := m[k]
	if s == nil {
		s = &idSet{}
		m[k] = s
	}
	return s
}

// list returns one page of jobs and the token of the next.
func (x *index) list(req ListRequest) ([]*Job, string) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	set := &x.all
	if req.PipelineID != "" {
		set = x.byPipeline[req.PipelineID]
	}
	if req.Status != "" {
		ss := x.byStatus[req.Status]
		if ss == nil {
			return nil, ""
		}
		if set == nil || len(*ss) < len(*set) {
			set = ss
		}
	}
	if set == nil {
		return nil, ""
	}
	ids := *set
	match := func(j *Job) bool {
		return (req.PipelineID == "" || j.PipelineID == req.PipelineID) && (req.Status == "" || j.Status == req.Status)
	}
	var out []*Job
	add := func(id string) bool {
		j := x.jobs[id].job
		if !match(j) {
			return true
		}
		if len(out) == req.Limit {
			return false
		}
		out = append(out, j.clone())
		return true
	}
	i, found := slices.BinarySearch(ids, req.PageToken)
	if req.Ascending {
		if found {
			i++
		}
		for ; i < len(ids); i++ {
			if !add(ids[i]) {
				return out, out[len(out)-1].ID
			}
		}
		return out, ""
	}
	if req.PageToken == "" {
		i = len(ids)
	}
	for i--; i >= 0; i-- {
		if !add(ids[i]) {
			return out, out[len(out)-1].ID
		}
	}
	return out, ""
}

// unfinished returns the jobs not yet in a final state.
func (x *index) unfinished() []*Job {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []*Job
	for _, st := range []string{StatusSubmitted, StatusProgressing} {
		if s := x.byStatus[st]; s != nil {
			for _, id := range *s {
				out = append(out, x.jobs[id].job)
			}
		}
	}
	return out
}

// idSet is a sorted set of IDs. New IDs are nearly always the largest, so
// adding is usually an append.
type idSet []string

func (s *idSet) add(id string) {
	i, found := slices.BinarySearch(*s, id)
	if !found {
		*s = slices.Insert(*s, i, id)
	}
}

func (s *idSet) remove(id string) {
	if i, found := slices.BinarySearch(*s, id); found {
		*s = slices.Delete(*s, i, i+1)
	}
}

// submitted returns a pipeline's Submitted jobs, oldest first.
func (x *index) submitted(pipelineID string) []*Job {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []*Job
	if s := x.byStatus[StatusSubmitted]; s != nil {
		for _, id := range *s {
			if j := x.jobs[id].job; j.PipelineID == pipelineID {
				out = append(out, j)
			}
		}
	}
	return out
}

// running counts a pipeline's Progressing jobs.
func (x *index) running(pipelineID string) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := 0
	if s := x.byStatus[StatusProgressing]; s != nil {
		for _, id := range *s {
			if x.jobs[id].job.PipelineID == pipelineID {
				n++
			}
		}
	}
	return n
}

// counts returns how many jobs are in each status.
func (x *index) counts() map[string]int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := map[string]int{}
	for st, s := range x.byStatus {
		out[st] = len(*s)
	}
	return out
}
