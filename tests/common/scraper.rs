//! Continuous scraping in a background thread, for the fault and churn tests: every scrape
//! is timed and reduced (by the test's own function) to what the test wants to keep.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{Sample, http_get, parse_prometheus_text};

/// One scrape: when it started, how long it took, and what the test kept of it.
#[derive(Clone, Debug)]
pub struct Scrape<T> {
    pub at: Instant,
    pub latency: Duration,
    /// Err: no 200 answer (the status and body, or the transport error).
    pub result: Result<T, String>,
}

pub struct Scraper<T> {
    records: Arc<Mutex<Vec<Scrape<T>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl<T: Clone + Send + 'static> Scraper<T> {
    /// Scrape `url` (a `/metrics` URL) back to back, pausing `pause` between scrapes, and keep
    /// `reduce(samples)` of each.
    pub fn start(
        url: String,
        pause: Duration,
        mut reduce: impl FnMut(&[Sample]) -> T + Send + 'static,
    ) -> Scraper<T> {
        Scraper::start_raw(url, pause, move |body| {
            parse_prometheus_text(body).map(|samples| reduce(&samples))
        })
    }

    /// Like [`Scraper::start`] for any URL: `reduce` gets the body of each 200 answer.
    pub fn start_raw(
        url: String,
        pause: Duration,
        mut reduce: impl FnMut(&str) -> Result<T, String> + Send + 'static,
    ) -> Scraper<T> {
        let records = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (records.clone(), stop.clone());
        let thread = thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let at = Instant::now();
                let answer = http_get(&url);
                // The exporter's latency only: parsing is the test's own time.
                let latency = at.elapsed();
                let result = match answer {
                    Ok((200, body)) => reduce(&body),
                    Ok((status, body)) => Err(format!("status {status}: {body}")),
                    Err(e) => Err(e),
                };
                r.lock().unwrap_or_else(|e| e.into_inner()).push(Scrape {
                    at,
                    latency,
                    result,
                });
                thread::sleep(pause);
            }
        });
        Scraper {
            records,
            stop,
            thread: Some(thread),
        }
    }

    /// Every scrape so far.
    pub fn records(&self) -> Vec<Scrape<T>> {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Wait until a scrape that started after `since` satisfies `pred`; panics after
    /// `timeout` with the last kept value. Returns that scrape.
    pub fn wait_for(
        &self,
        what: &str,
        since: Instant,
        timeout: Duration,
        pred: impl Fn(&T) -> bool,
    ) -> Scrape<T>
    where
        T: std::fmt::Debug,
    {
        let deadline = Instant::now() + timeout;
        loop {
            let records = self.records();
            if let Some(hit) = records
                .iter()
                .find(|r| r.at >= since && r.result.as_ref().is_ok_and(&pred))
            {
                return hit.clone();
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}; last scrape: {:?}",
                    records.last()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stop scraping; returns every scrape.
    pub fn finish(mut self) -> Vec<Scrape<T>> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.records()
    }
}

impl<T> Drop for Scraper<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
