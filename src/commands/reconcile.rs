//! `reconcile [FILE...]`: reads back what runs created; the work is the `reconcile` stage's.

use anyhow::Result;

use crate::api::Client;
use crate::config::ReconcileSettings;
use crate::executor::Stop;
use crate::exit::Exit;

pub async fn reconcile(settings: ReconcileSettings) -> Result<Exit> {
    let stop = Stop::new();
    super::watch_signals(stop.clone());
    let client = Client::new(settings.api)?;
    crate::reconcile::reconcile(&settings.reconcile, client, stop).await
}
