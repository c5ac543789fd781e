//! The slot table of a pool (sans-IO: no threads, no clocks, no channels of its own).
//!
//! A request is admitted into a free slot, or into the bounded wait queue when every slot is
//! held, or refused when both are full. The engine runs the best *ready* slot next: lowest
//! [`Priority`], ties by arrival. A slot is freed when its result is delivered or when its
//! caller cancels — also while the engine is still running it, so a caller that gave up never
//! holds capacity. The freed slot goes at once to the best waiting request.
//!
//! Every request gets a unique, increasing [`RequestId`]; the id of a slot's holder is the
//! slot's generation. A job carries the id it was started with, and [`SlotTable::finish`]
//! hands back the reply only if the slot still holds that id: a result that comes back after
//! its caller cancelled never reaches the next holder of the slot.

use super::priority::Priority;

/// A request's id: unique for the table's lifetime, in arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(u64);

/// Work for the engine: the input of the slot it was taken from.
#[derive(Debug)]
pub struct Job<I> {
    /// The slot it runs for.
    pub slot: usize,
    /// The slot's generation when the job started.
    pub id: RequestId,
    /// The request's input.
    pub input: I,
}

/// Where a cancelled request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// Not in the table (already delivered, or never admitted).
    NotFound,
    /// In the wait queue: it never had a slot.
    Waiting,
    /// In a slot, not started: the engine never sees it.
    Ready,
    /// The engine is running it: its slot is free now and its result will be discarded.
    Running,
}

/// Both the slots and the wait queue are full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

struct Request<I, R> {
    id: RequestId,
    priority: Priority,
    /// `None` once the engine took the input.
    input: Option<I>,
    reply: R,
}

impl<I, R> Request<I, R> {
    fn key(&self) -> (Priority, RequestId) {
        (self.priority, self.id)
    }
}

/// Slots, a bounded wait queue and the scheduling rule. `R` is whatever delivers a result (a
/// channel sender in the pool, a plain value in tests).
pub struct SlotTable<I, R> {
    slots: Vec<Option<Request<I, R>>>,
    waiting: Vec<Request<I, R>>,
    queue_capacity: usize,
    next_id: u64,
}

impl<I, R> SlotTable<I, R> {
    /// A table of `slots` slots (at least one) and a wait queue of `queue_capacity`.
    pub fn new(slots: usize, queue_capacity: usize) -> Self {
        SlotTable {
            slots: (0..slots.max(1)).map(|_| None).collect(),
            waiting: Vec::new(),
            queue_capacity,
            next_id: 0,
        }
    }

    /// Admits a request into a free slot or the wait queue.
    pub fn admit(&mut self, input: I, priority: Priority, reply: R) -> Result<RequestId, Full> {
        let free = self.slots.iter().position(Option::is_none);
        if free.is_none() && self.waiting.len() >= self.queue_capacity {
            return Err(Full);
        }
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let request = Request {
            id,
            priority,
            input: Some(input),
            reply,
        };
        match free {
            Some(slot) => self.slots[slot] = Some(request),
            None => self.waiting.push(request),
        }
        Ok(id)
    }

    /// Takes the best ready slot's input for the engine; `None` when no slot is ready.
    pub fn start_next(&mut self) -> Option<Job<I>> {
        let (slot, _) = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.as_ref()
                    .filter(|r| r.input.is_some())
                    .map(|r| (i, r.key()))
            })
            .min_by_key(|(_, key)| *key)?;
        let request = self.slots[slot].as_mut()?;
        Some(Job {
            slot,
            id: request.id,
            input: request.input.take()?,
        })
    }

    /// The engine finished `slot`'s job started as `id`: the reply to deliver to, if that
    /// request still holds the slot (it is then freed).
    pub fn finish(&mut self, slot: usize, id: RequestId) -> Option<R> {
        let holder = self.slots.get_mut(slot)?;
        if holder.as_ref().map(|r| r.id) != Some(id) {
            return None;
        }
        let request = holder.take()?;
        self.promote(slot);
        Some(request.reply)
    }

    /// The caller of `id` gave up: it leaves the table (its slot, if any, is free at once).
    pub fn cancel(&mut self, id: RequestId) -> Cancelled {
        if let Some(i) = self.waiting.iter().position(|r| r.id == id) {
            self.waiting.swap_remove(i);
            return Cancelled::Waiting;
        }
        let Some(slot) = self
            .slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|r| r.id == id))
        else {
            return Cancelled::NotFound;
        };
        let was_ready = self.slots[slot].take().is_some_and(|r| r.input.is_some());
        self.promote(slot);
        if was_ready {
            Cancelled::Ready
        } else {
            Cancelled::Running
        }
    }

    /// Every reply still owed (the table is empty afterwards): for shutting down.
    pub fn drain(&mut self) -> Vec<R> {
        let held = self.slots.iter_mut().filter_map(Option::take);
        let mut replies: Vec<R> = held.map(|r| r.reply).collect();
        replies.extend(self.waiting.drain(..).map(|r| r.reply));
        replies
    }

    /// Requests not started yet (ready slots and the wait queue).
    pub fn queue_depth(&self) -> usize {
        let ready = self.slots.iter().flatten().filter(|r| r.input.is_some());
        ready.count() + self.waiting.len()
    }

    /// Slots held (ready or running).
    pub fn active_slots(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// Moves the best waiting request into the free `slot`.
    fn promote(&mut self, slot: usize) {
        let best = self
            .waiting
            .iter()
            .enumerate()
            .min_by_key(|(_, r)| r.key())
            .map(|(i, _)| i);
        if let Some(i) = best {
            self.slots[slot] = Some(self.waiting.swap_remove(i));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn ahead(t: Instant, ms: u64) -> Priority {
        Priority::ahead_of_playback(t + Duration::from_millis(ms))
    }

    /// Runs every ready job to completion, returning the inputs in run order.
    fn run_all(table: &mut SlotTable<&'static str, &'static str>) -> Vec<&'static str> {
        let mut order = Vec::new();
        while let Some(job) = table.start_next() {
            order.push(job.input);
            assert!(table.finish(job.slot, job.id).is_some());
        }
        order
    }

    #[test]
    fn runs_waiting_users_first_then_by_deadline_then_by_arrival() {
        let t = Instant::now();
        let mut table = SlotTable::new(8, 0);
        table.admit("partial", ahead(t, 500), "r").unwrap();
        table.admit("clause 2", ahead(t, 200), "r").unwrap();
        table
            .admit("final", Priority::user_waiting(t), "r")
            .unwrap();
        table.admit("clause 3", ahead(t, 200), "r").unwrap();
        table
            .admit("first clause", Priority::user_waiting(t), "r")
            .unwrap();
        assert_eq!(
            run_all(&mut table),
            ["final", "first clause", "clause 2", "clause 3", "partial"]
        );
    }

    #[test]
    fn refuses_when_the_slots_and_the_wait_queue_are_full() {
        let t = Instant::now();
        let mut table = SlotTable::new(1, 1);
        table.admit("a", ahead(t, 0), "r").unwrap();
        table.admit("b", ahead(t, 0), "r").unwrap();
        assert_eq!(table.admit("c", ahead(t, 0), "r"), Err(Full));
        assert_eq!((table.active_slots(), table.queue_depth()), (1, 2));
    }

    #[test]
    fn a_freed_slot_goes_to_the_best_waiting_request() {
        let t = Instant::now();
        let mut table = SlotTable::new(1, 4);
        table.admit("running", ahead(t, 0), "r").unwrap();
        let job = table.start_next().unwrap();
        table.admit("later", ahead(t, 900), "r").unwrap();
        table
            .admit("urgent", Priority::user_waiting(t), "r")
            .unwrap();
        assert!(table.start_next().is_none(), "no second slot");
        table.finish(job.slot, job.id).unwrap();
        assert_eq!(run_all(&mut table), ["urgent", "later"]);
    }

    #[test]
    fn a_cancelled_request_is_never_started_and_frees_its_place() {
        let t = Instant::now();
        let mut table = SlotTable::new(1, 1);
        let a = table.admit("a", ahead(t, 0), "r").unwrap();
        let b = table.admit("b", ahead(t, 0), "r").unwrap();
        assert_eq!(table.cancel(b), Cancelled::Waiting);
        assert_eq!(table.cancel(a), Cancelled::Ready);
        assert_eq!(table.cancel(a), Cancelled::NotFound);
        assert!(table.start_next().is_none());
        assert_eq!((table.active_slots(), table.queue_depth()), (0, 0));
    }

    #[test]
    fn a_late_result_never_reaches_the_next_holder_of_the_slot() {
        let t = Instant::now();
        let mut table = SlotTable::new(1, 0);
        let first = table.admit("first", ahead(t, 0), "first's reply").unwrap();
        let job = table.start_next().unwrap();
        assert_eq!(table.cancel(first), Cancelled::Running);
        // The slot is free while the engine still works on the cancelled job.
        table
            .admit("second", ahead(t, 0), "second's reply")
            .unwrap();
        assert_eq!(table.finish(job.slot, job.id), None, "stale generation");
        assert_eq!(table.active_slots(), 1, "the new holder keeps its slot");
        let next = table.start_next().unwrap();
        assert_eq!((next.slot, next.input), (job.slot, "second"));
        assert_eq!(table.finish(next.slot, next.id), Some("second's reply"));
    }

    #[test]
    fn drain_returns_every_reply_owed() {
        let t = Instant::now();
        let mut table = SlotTable::new(1, 1);
        table.admit("a", ahead(t, 0), 1).unwrap();
        table.admit("b", ahead(t, 0), 2).unwrap();
        let mut owed = table.drain();
        owed.sort();
        assert_eq!(owed, [1, 2]);
        assert_eq!((table.active_slots(), table.queue_depth()), (0, 0));
    }
}
