//! Checked, typed settings built from the command line: what `run` and `reconcile` hand to
//! the pipeline once every flag has been checked, and the API client they share.

use std::time::Duration;

use anyhow::{Result, bail};

use crate::api::{ApiConfig, Client, Credentials};
use crate::cli::{ApiArgs, CommonArgs, SendArgs};
use crate::executor::Backoff;

/// Checked settings of `run`.
pub struct RunSettings {
    pub common: CommonArgs,
    pub send: SendSettings,
}

impl RunSettings {
    pub fn new(common: CommonArgs, send: SendArgs) -> Result<RunSettings> {
        Ok(RunSettings {
            common,
            send: SendSettings::new(&send)?,
        })
    }
}

/// The lowest `--rate` but 0: one request a day.
const MIN_RATE: f64 = 1.0 / 86_400.0;

/// Checked pacing, concurrency and retry settings: the same for `run` and `reconcile`.
pub struct SendSettings {
    pub rate: f64,
    pub concurrency: usize,
    pub max_attempts: u32,
    pub backoff: Backoff,
    pub grace: Duration,
}

impl SendSettings {
    pub fn new(send: &SendArgs) -> Result<SendSettings> {
        if !(send.rate >= 0.0 && send.rate.is_finite()) {
            bail!("--rate must be a number of requests per second, 0 for no limit");
        }
        if send.rate > 0.0 && send.rate < MIN_RATE {
            bail!(
                "--rate {} is below one request a day ({MIN_RATE:.8}/s): use 0 for no limit, \
                 or a rate of at least one a day",
                send.rate
            );
        }
        if send.rate > 1000.0 && (send.concurrency as f64) < send.rate / 1000.0 {
            // A worker waits at least the timer's millisecond between its turns.
            tracing::warn!(
                "--rate {} cannot be reached with --concurrency {}: each request in flight \
                 takes at most about 1,000 turns a second; use --concurrency {} or more",
                send.rate,
                send.concurrency,
                (send.rate / 1000.0).ceil()
            );
        }
        Ok(SendSettings {
            rate: send.rate,
            concurrency: send.concurrency as usize,
            max_attempts: send.max_attempts,
            backoff: Backoff {
                base: Duration::from_millis(send.backoff_ms),
                cap: Duration::from_secs(30),
            },
            grace: Duration::from_secs_f64(send.timeout.clamp(1.0, 30.0)),
        })
    }

    /// Rows claimed per journal commit: about half a second of requests at the rate, at most
    /// `MAX_CLAIM` (also when the rate is unlimited, where that is a few milliseconds' worth).
    pub fn claim_batch(&self) -> usize {
        const MAX_CLAIM: usize = 256;
        if self.rate <= 0.0 {
            MAX_CLAIM
        } else {
            ((self.rate / 2.0).ceil() as usize).clamp(1, MAX_CLAIM)
        }
    }

    /// Threads that send requests: one per core when the rate is unlimited or high, one when
    /// pacing keeps the run slow anyway.
    pub fn shards(&self) -> usize {
        if self.rate > 0.0 && self.rate < 500.0 {
            return 1;
        }
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(4)
    }
}

pub fn client(api: &ApiArgs, send: &SendArgs) -> Result<Client> {
    if !(send.timeout > 0.0 && send.timeout.is_finite()) {
        bail!("--timeout must be a positive number of seconds");
    }
    let credentials = if let Some(path) = &api.token_file {
        Credentials::TokenFile(path.clone())
    } else if let Some(token) = non_empty_env("CARTEVO_API_TOKEN") {
        Credentials::Token(token)
    } else if let (Some(id), Some(key)) = (
        non_empty_env("CARTEVO_CLIENT_ID"),
        non_empty_env("CARTEVO_CLIENT_KEY"),
    ) {
        Credentials::Client { id, key }
    } else {
        bail!(
            "no credentials: set CARTEVO_API_TOKEN, or CARTEVO_CLIENT_ID and CARTEVO_CLIENT_KEY, \
             or give --token-file"
        );
    };
    Client::new(ApiConfig {
        base_url: api.base_url.clone(),
        credentials,
        timeout: Duration::from_secs_f64(send.timeout),
        provider_enroll: !api.no_provider_enroll,
    })
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(rate: f64) -> SendArgs {
        SendArgs {
            rate,
            concurrency: 4,
            max_attempts: 5,
            timeout: 30.0,
            backoff_ms: 500,
        }
    }

    #[test]
    fn a_rate_is_zero_or_at_least_one_a_day() {
        for ok in [0.0, MIN_RATE, 0.5, 5.0, 1e6] {
            assert!(SendSettings::new(&send(ok)).is_ok(), "{ok}");
        }
        for bad in [-1.0, 1e-9, f64::NAN, f64::INFINITY] {
            let err = SendSettings::new(&send(bad)).err().expect("refused");
            assert!(err.to_string().contains("--rate"), "{err}");
        }
    }
}
