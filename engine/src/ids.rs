//! Newtype ids, made once by a macro, so a `CustomerId` can never be passed where a
//! `DocumentId` is expected. They are stored as 64-bit integers on both backends.

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
                 serde::Serialize, serde::Deserialize, sqlx::Type, utoipa::ToSchema)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.trim().parse().map($name)
            }
        }
    };
}

id_type!(
    /// A customer (debtor) in the ledger.
    CustomerId
);
id_type!(
    /// Any ledger document: invoice, debit note, interest note, fee, payment, credit note,
    /// write-off or credit transfer.
    DocumentId
);
id_type!(
    /// One allocation of a reducing document to a receivable.
    AllocationId
);
id_type!(
    /// A refund or a transfer of unallocated money.
    CreditOperationId
);
id_type!(
    /// One running (or closed) collection case.
    CaseId
);
id_type!(
    /// A human task: a call, an approval, a verification, a court stage.
    TaskId
);
id_type!(
    /// An interest note (its ledger document has a `DocumentId` of its own).
    InterestNoteId
);
id_type!(
    /// A case's secret debtor-page link (the token itself is never stored).
    PayLinkId
);
id_type!(
    /// A file a debtor uploaded through the debtor page (a proof of payment).
    UploadId
);
id_type!(
    /// A member of staff's request that collections start a case (the intranet form).
    CaseRequestId
);
