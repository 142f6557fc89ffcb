//! Group commit: the two writes of every issuance (the signing check with serial
//! reservation before the signature, the commit after it) are queued to one writer, which
//! applies everything queued in one transaction with one durable commit, and only then
//! answers each caller. Under concurrency the cost of durability is shared by the whole
//! batch, so throughput follows the signatures rather than the disk; a lone caller waits
//! for no one. How a batch is applied is the backend's ([`Batcher`]).
//!
//! If a batch fails (a serial conflict, say), its operations are applied again one at a
//! time, so only the operation at fault fails.

use std::sync::OnceLock;

use tokio::sync::{mpsc, oneshot};

use super::{
    AuditEvent, CertificateRecord, NewCertificate, SigningIntent, SigningRefusal, StoreError,
};

/// Most operations applied in one transaction (bounded by SQLite's 32 766 parameters per
/// statement: a certificate row binds 14).
pub(super) const MAX_BATCH: usize = 256;

/// A write waiting for the next group commit.
pub(super) enum Op {
    /// [`super::CertificateStore::begin_signing`].
    Sign(SigningIntent),
    /// [`super::CertificateStore::commit_certificate`].
    Commit {
        cert: NewCertificate,
        issuer_key_id: String,
        audit: AuditEvent,
    },
}

/// What an applied operation gives back.
pub(super) enum Done {
    /// The signing check's outcome.
    Signed(Result<(), SigningRefusal>),
    /// The stored certificate.
    Committed(Box<CertificateRecord>),
}

type Reply = oneshot::Sender<Result<Done, StoreError>>;

/// Applies a batch of operations in one transaction, answering in the same order; one
/// per backend.
pub(super) trait Batcher: Send + 'static {
    /// Applies `ops` in one transaction (all or nothing).
    async fn apply(&mut self, ops: &[Op]) -> Result<Vec<Done>, StoreError>;
}

/// The queue to a store's writer (started on first use).
#[derive(Debug, Default)]
pub(super) struct GroupCommit {
    queue: OnceLock<mpsc::UnboundedSender<(Op, Reply)>>,
}

fn unexpected() -> StoreError {
    StoreError::Internal("unexpected group-commit answer".into())
}

fn writer_gone() -> StoreError {
    StoreError::Internal("the store's writer task has stopped".into())
}

impl GroupCommit {
    /// [`super::CertificateStore::begin_signing`] through the group commit.
    pub(super) async fn begin_signing<B: Batcher>(
        &self,
        make: impl FnOnce() -> B,
        intent: &SigningIntent,
    ) -> Result<Result<(), SigningRefusal>, StoreError> {
        match self.apply(make, Op::Sign(intent.clone())).await? {
            Done::Signed(outcome) => Ok(outcome),
            Done::Committed(_) => Err(unexpected()),
        }
    }

    /// [`super::CertificateStore::commit_certificate`] through the group commit.
    pub(super) async fn commit_certificate<B: Batcher>(
        &self,
        make: impl FnOnce() -> B,
        cert: &NewCertificate,
        issuer_key_id: &str,
        audit: &AuditEvent,
    ) -> Result<CertificateRecord, StoreError> {
        let op = Op::Commit {
            cert: cert.clone(),
            issuer_key_id: issuer_key_id.to_owned(),
            audit: audit.clone(),
        };
        match self.apply(make, op).await? {
            Done::Committed(record) => Ok(*record),
            Done::Signed(_) => Err(unexpected()),
        }
    }

    /// Queues `op` and waits until the transaction holding it has committed. The first
    /// call starts the writer over the batcher `make` returns.
    async fn apply<B: Batcher>(
        &self,
        make: impl FnOnce() -> B,
        op: Op,
    ) -> Result<Done, StoreError> {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            // The writer gets a thread of its own: on the shared runtime it would queue
            // behind the CPU-bound issuance tasks (CSR checks, signatures) at every
            // statement, and every caller waits for it.
            // If the thread cannot start, the receiver is dropped with the closure and every
            // caller is told the writer has stopped.
            let target = make();
            let _ = std::thread::Builder::new()
                .name("caforge-store-writer".into())
                .spawn(move || {
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime.block_on(writer(target, receiver)),
                        // Dropping the queue answers every caller with "writer stopped".
                        Err(_) => drop(receiver),
                    }
                });
            sender
        });
        let (reply, answer) = oneshot::channel();
        queue.send((op, reply)).map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }
}

/// Applies everything queued, batch after batch, until every handle on the store is gone.
async fn writer<B: Batcher>(mut target: B, mut queue: mpsc::UnboundedReceiver<(Op, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (ops, replies): (Vec<Op>, Vec<Reply>) = batch.drain(..).unzip();
        let results: Vec<Result<Done, StoreError>> = match target.apply(&ops).await {
            Ok(done) => done.into_iter().map(Ok).collect(),
            Err(e) if ops.len() == 1 => vec![Err(e)],
            Err(_) => {
                let mut each = Vec::with_capacity(ops.len());
                for op in &ops {
                    each.push(
                        target
                            .apply(std::slice::from_ref(op))
                            .await
                            .and_then(|mut d| d.pop().ok_or_else(writer_gone)),
                    );
                }
                each
            }
        };
        for (reply, result) in replies.into_iter().zip(results) {
            // A caller that stopped waiting has nothing to be told.
            let _ = reply.send(result);
        }
    }
}
