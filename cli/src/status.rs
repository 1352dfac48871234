//! How a run ends: the exit [`Status`], and the [`Failure`] that stops a
//! command, printed on stderr with its chain of causes.

use std::error::Error;
use std::fmt::Display;
use std::io;

/// The exit code, from best to worst: a run that meets several outcomes
/// exits with the worst ([`Status::worst`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// 0: everything worked.
    Ok = 0,
    /// 1: the command ran and the answer is no: a miss, not found, not
    /// stored, a CAS conflict, a non-numeric counter.
    No = 1,
    /// 2: bad arguments, or input refused before anything was sent.
    Usage = 2,
    /// 3: a connection or server error.
    Failed = 3,
}

impl Status {
    /// The worse of two outcomes.
    pub fn worst(self, other: Status) -> Status {
        self.max(other)
    }

    /// The exit status a memwire error stands for.
    pub fn of(error: &memwire::Error) -> Status {
        use memwire::Error as E;
        match error {
            E::NotFound | E::NotStored | E::Exists | E::NonNumeric => Status::No,
            e if e.is_input_error() => Status::Usage,
            _ => Status::Failed,
        }
    }
}

/// What stopped a command (or one item of it): a status, what was being
/// done, and the error.
#[derive(Debug)]
pub struct Failure {
    status: Status,
    context: String,
    error: Box<dyn Error + Send + Sync>,
}

impl Failure {
    /// A failure with this exit status.
    pub fn new(
        status: Status,
        context: impl Display,
        error: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> Failure {
        Failure {
            status,
            context: context.to_string(),
            error: error.into(),
        }
    }

    /// A memwire error, with the status it stands for.
    pub fn client(context: impl Display, error: memwire::Error) -> Failure {
        Failure::new(Status::of(&error), context, error)
    }

    /// The exit status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Whether stdout was closed by its reader (`memwire keys | head`).
    pub fn is_broken_pipe(&self) -> bool {
        self.error
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    }

    /// Print on stderr: `memwire: CONTEXT: ERROR`, then one `caused by:`
    /// line per [`source`](Error::source).
    pub fn print(&self) {
        eprintln!("{}", self.render());
    }

    /// Print, and give back the status (for items of a multi-item command).
    pub fn report(self) -> Status {
        self.print();
        self.status
    }

    fn render(&self) -> String {
        let mut text = format!("memwire: {}: {}", self.context, self.error);
        let mut cause = self.error.source();
        while let Some(e) = cause {
            text.push_str(&format!("\n  caused by: {e}"));
            cause = e.source();
        }
        text
    }
}

impl From<io::Error> for Failure {
    /// Writing the output failed.
    fn from(error: io::Error) -> Failure {
        Failure::new(Status::Failed, "cannot write the output", error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_of_errors() {
        assert_eq!(Status::of(&memwire::Error::NotFound), Status::No);
        assert_eq!(Status::of(&memwire::Error::NotStored), Status::No);
        assert_eq!(Status::of(&memwire::Error::NoKeys), Status::Usage);
        assert_eq!(Status::of(&memwire::Error::Timeout), Status::Failed);
        assert_eq!(
            Status::of(&memwire::Error::Server("out of memory".into())),
            Status::Failed
        );
        assert_eq!(Status::No.worst(Status::Failed), Status::Failed);
        assert_eq!(Status::Ok.worst(Status::No), Status::No);
    }

    #[test]
    fn the_chain_is_printed() {
        let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        let failure = Failure::client("get k", memwire::Error::connect("h:1", refused));
        assert_eq!(
            failure.render(),
            "memwire: get k: cannot connect to h:1\n  caused by: refused"
        );
        assert_eq!(failure.status(), Status::Failed);
    }
}
