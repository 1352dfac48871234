//! A `tracing` span around each call (feature `tracing`): `memwire`, at
//! the debug level, with the verb of the call's first command (`op`) and
//! how many servers it goes to (`servers`). The events inside are the
//! client layer's ([`memwire_core::client`]). Nothing without the feature.

#[cfg(feature = "tracing")]
pub(crate) use on::*;

#[cfg(not(feature = "tracing"))]
pub(crate) use off::*;

#[cfg(feature = "tracing")]
mod on {
    use memwire_core::client::{Call, Operation};
    use tracing::field::Empty;
    use tracing::Span;

    fn span() -> Span {
        tracing::debug_span!("memwire", op = Empty, servers = Empty)
    }

    /// The span of `call`, entered until dropped (blocking transports).
    #[cfg(any(feature = "blocking", feature = "mio"))]
    pub(crate) fn enter<O: Operation>(call: &Call<O>) -> tracing::span::EnteredSpan {
        let span = span();
        describe_in(&span, call);
        span.entered()
    }

    /// `call`, in a new span (async transports: `describe` fills it in
    /// once the call is planned).
    #[cfg(any(feature = "smol", feature = "tokio"))]
    pub(crate) fn instrument<F: std::future::Future>(
        call: F,
    ) -> impl std::future::Future<Output = F::Output> {
        tracing::Instrument::instrument(call, span())
    }

    /// Record what `call` is on the current span (the one of
    /// `instrument`).
    #[cfg(any(feature = "smol", feature = "tokio"))]
    pub(crate) fn describe<O: Operation>(call: &Call<O>) {
        describe_in(&Span::current(), call);
    }

    fn describe_in<O: Operation>(span: &Span, call: &Call<O>) {
        if span.is_disabled() {
            return;
        }
        let dispatches = call.dispatches();
        if let Some(first) = dispatches.first() {
            span.record("op", first.command.name());
        }
        let mut servers: Vec<usize> = dispatches.iter().map(|d| d.server).collect();
        servers.sort_unstable();
        servers.dedup();
        span.record("servers", servers.len());
    }
}

#[cfg(not(feature = "tracing"))]
mod off {
    use memwire_core::client::{Call, Operation};

    /// Stands for an entered span.
    #[cfg(any(feature = "blocking", feature = "mio"))]
    pub(crate) struct NoSpan;

    #[cfg(any(feature = "blocking", feature = "mio"))]
    pub(crate) fn enter<O: Operation>(_: &Call<O>) -> NoSpan {
        NoSpan
    }

    #[cfg(any(feature = "smol", feature = "tokio"))]
    pub(crate) fn instrument<F>(call: F) -> F {
        call
    }

    #[cfg(any(feature = "smol", feature = "tokio"))]
    pub(crate) fn describe<O: Operation>(_: &Call<O>) {}
}
