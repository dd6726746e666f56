//! CSV import and export on both backends: bad rows are reported by row and column and
//! nothing of the file is booked; a good file is booked whole; an export imports again.

use std::str::FromStr;
use std::sync::Arc;

use arrears_connectors::ledger_csv::{self, ExportFormat, FileKind, ImportError};
use arrears_engine::ManualClock;
use arrears_engine::ledger::{Actor, DocumentKind};
use arrears_engine::store::{DocumentFilter, Store};
use arrears_engine::testkit::TestDb;
use chrono::NaiveDate;

const CUSTOMERS: &str = "external_id,name,category,language,email,phone,ibans,custom.segment
C1,Zakład Usług Łódź Sp. z o.o.,business,pl,biuro@zul.example,+48 600 100 200,PL61 1090 1014 0000 0712 1981 2874,energy
C2,Jan Kowalski,consumer,pl,jan@mail.example,,,
";

const INVOICES: &str =
    "number,customer,issue_date,due_date,currency,description,quantity,unit_price,tax_rate
FV/1,C1,2026-01-10,2026-01-24,PLN,Energy,100,0.65,23
FV/1,C1,2026-01-10,2026-01-24,PLN,Distribution fee,1,20.00,23
FV/2,C2,2026-01-12,2026-01-26,PLN,Subscription,1,49.99,8
";

async fn open(db: &TestDb) -> Store {
    let clock = Arc::new(ManualClock::at_date(
        NaiveDate::from_str("2026-03-01").unwrap_or_default(),
    ));
    match db.open(clock).await {
        Ok(s) => s,
        Err(e) => panic!("cannot open {}: {e}", db.backend),
    }
}

async fn count_documents(store: &Store) -> usize {
    store
        .documents(&DocumentFilter::default())
        .await
        .map(|d| d.len())
        .unwrap_or(usize::MAX)
}

fn rows_of(
    err: Result<ledger_csv::ImportReport, ImportError>,
) -> Vec<(usize, Option<String>, String)> {
    match err {
        Err(ImportError::Rows(rows)) => rows
            .into_iter()
            .map(|e| (e.row, e.column, e.message))
            .collect(),
        other => panic!("expected row errors, got {other:?}"),
    }
}

#[tokio::test]
async fn a_good_file_is_booked_whole_with_lines_grouped_by_number() -> anyhow::Result<()> {
    for db in TestDb::all().await {
        let store = open(&db).await;
        let actor = Actor::system();
        let c = ledger_csv::import(
            &store,
            FileKind::Customers,
            "customers.csv",
            CUSTOMERS.as_bytes(),
            false,
            &actor,
        )
        .await?;
        assert_eq!(c.created, 2, "{}", db.backend);
        let customer = store
            .customer_by_external_id("C1")
            .await?
            .ok_or_else(|| anyhow::anyhow!("C1"))?;
        assert_eq!(customer.ibans.len(), 1);
        assert_eq!(
            customer
                .custom_fields
                .get("segment")
                .and_then(|v| v.as_str()),
            Some("energy")
        );

        let r = ledger_csv::import(
            &store,
            FileKind::Invoices,
            "invoices.csv",
            INVOICES.as_bytes(),
            false,
            &actor,
        )
        .await?;
        assert_eq!((r.rows, r.created), (3, 2), "{}", db.backend);
        // 100 x 0.65 = 65.00 + 23% = 79.95; 20.00 + 23% = 24.60; 49.99 + 8% = 53.99
        assert_eq!(r.totals.get("PLN").map(String::as_str), Some("158.54"));
        let fv1 = store
            .find_document(DocumentKind::Invoice, "FV/1")
            .await?
            .ok_or_else(|| anyhow::anyhow!("FV/1"))?;
        let d = store.document(fv1).await?;
        assert_eq!(d.lines.len(), 2);
        assert_eq!(d.document.buyer_name, "Zakład Usług Łódź Sp. z o.o.");

        // Importing the same file again changes nothing.
        let again = ledger_csv::import(
            &store,
            FileKind::Invoices,
            "invoices.csv",
            INVOICES.as_bytes(),
            false,
            &actor,
        )
        .await?;
        assert_eq!((again.created, again.unchanged), (0, 2));

        // Payments: explicit invoice first, then oldest due; a semicolon-separated file.
        let payments = "number;customer;date;amount;currency;reference;invoices\nBANK/1;C1;2026-02-01;104,55;PLN;FV/1;FV/1\n";
        let p = ledger_csv::import(
            &store,
            FileKind::Payments,
            "payments.csv",
            payments.as_bytes(),
            false,
            &actor,
        )
        .await?;
        assert_eq!((p.created, p.allocations), (1, 1));
        assert_eq!(
            store.document(fv1).await?.open.map(|o| o.to_string()),
            Some("0.00".to_string())
        );
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn bad_rows_are_reported_by_row_and_column_and_nothing_is_booked() -> anyhow::Result<()> {
    for db in TestDb::all().await {
        let store = open(&db).await;
        let actor = Actor::system();
        ledger_csv::import(
            &store,
            FileKind::Customers,
            "customers.csv",
            CUSTOMERS.as_bytes(),
            false,
            &actor,
        )
        .await?;
        let bad =
            "number,customer,issue_date,due_date,currency,description,quantity,unit_price,tax_rate
FV/1,C1,2026-01-10,2026-01-24,PLN,Energy,100,0.65,23
FV/2,C1,2026-13-01,2026-01-24,PLN,Energy,1,10,23
FV/3,C9,2026-01-10,2026-01-24,PLN,Energy,1,10,23
FV/4,C1,2026-01-10,2026-01-24,PLN,Energy,-1,10,23
FV/5,C1,2026-01-10,2026-01-24,PLZZ,Energy,1,1 000,23
";
        let errors = rows_of(
            ledger_csv::import(
                &store,
                FileKind::Invoices,
                "bad.csv",
                bad.as_bytes(),
                false,
                &actor,
            )
            .await,
        );
        let cells: Vec<(usize, Option<&str>)> =
            errors.iter().map(|(r, c, _)| (*r, c.as_deref())).collect();
        assert_eq!(
            cells,
            vec![
                (3, Some("issue_date")),
                (5, Some("quantity")),
                (6, Some("currency")),
                (6, Some("unit_price"))
            ],
            "{}: {errors:?}",
            db.backend
        );
        assert!(errors[0].2.contains("2026-13-01"), "{:?}", errors[0]);
        assert_eq!(
            count_documents(&store).await,
            0,
            "{}: nothing may be booked",
            db.backend
        );

        // Errors only the ledger can see (an unknown customer) are reported the same way.
        let unknown = "number,customer,issue_date,due_date,currency,description,unit_price
FV/1,C1,2026-01-10,2026-01-24,PLN,Energy,10
FV/3,C9,2026-01-10,2026-01-24,PLN,Energy,10
";
        let errors = rows_of(
            ledger_csv::import(
                &store,
                FileKind::Invoices,
                "unknown.csv",
                unknown.as_bytes(),
                false,
                &actor,
            )
            .await,
        );
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].0, errors[0].1.as_deref()), (3, Some("customer")));
        assert!(errors[0].2.contains("C9"));
        assert_eq!(count_documents(&store).await, 0);

        // A changed invoice is refused with the row of the change.
        ledger_csv::import(
            &store,
            FileKind::Invoices,
            "ok.csv",
            INVOICES.as_bytes(),
            false,
            &actor,
        )
        .await?;
        let before = count_documents(&store).await;
        let changed = INVOICES.replace("49.99", "59.99");
        let errors = rows_of(
            ledger_csv::import(
                &store,
                FileKind::Invoices,
                "changed.csv",
                changed.as_bytes(),
                false,
                &actor,
            )
            .await,
        );
        assert_eq!((errors[0].0, errors[0].1.as_deref()), (4, Some("number")));
        assert!(errors[0].2.contains("already issued"));
        assert_eq!(count_documents(&store).await, before);

        // Unknown and missing columns are reported on the header row, with a suggestion.
        let header = "number,customer,issue_date,due_dte,currency,description,unit_price\n";
        let errors = rows_of(
            ledger_csv::import(
                &store,
                FileKind::Invoices,
                "h.csv",
                header.as_bytes(),
                false,
                &actor,
            )
            .await,
        );
        assert_eq!(errors[0].0, 1);
        assert!(
            errors[0].2.contains("did you mean \"due_date\""),
            "{errors:?}"
        );
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn a_dry_run_reports_and_books_nothing() -> anyhow::Result<()> {
    for db in TestDb::all().await {
        let store = open(&db).await;
        let actor = Actor::system();
        ledger_csv::import(
            &store,
            FileKind::Customers,
            "customers.csv",
            CUSTOMERS.as_bytes(),
            false,
            &actor,
        )
        .await?;
        let r = ledger_csv::import(
            &store,
            FileKind::Invoices,
            "invoices.csv",
            INVOICES.as_bytes(),
            true,
            &actor,
        )
        .await?;
        assert!(r.dry_run);
        assert_eq!(r.created, 2);
        assert_eq!(count_documents(&store).await, 0, "{}", db.backend);
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn an_export_imports_again_into_an_empty_ledger() -> anyhow::Result<()> {
    let source_db = TestDb::sqlite().await;
    let source = open(&source_db).await;
    let actor = Actor::system();
    ledger_csv::import(
        &source,
        FileKind::Customers,
        "customers.csv",
        CUSTOMERS.as_bytes(),
        false,
        &actor,
    )
    .await?;
    ledger_csv::import(
        &source,
        FileKind::Invoices,
        "invoices.csv",
        INVOICES.as_bytes(),
        false,
        &actor,
    )
    .await?;
    let mut exports = Vec::new();
    for kind in [FileKind::Customers, FileKind::Invoices] {
        let mut out = Vec::new();
        ledger_csv::export(&source, kind, ExportFormat::Csv, &mut out).await?;
        exports.push((kind, out));
    }
    for db in TestDb::all().await {
        let target = open(&db).await;
        for (kind, bytes) in &exports {
            let r = ledger_csv::import(&target, *kind, "export.csv", bytes, false, &actor).await?;
            assert!(r.created > 0, "{}: {kind:?}", db.backend);
        }
        let a = source
            .aging(&arrears_engine::store::AgingQuery {
                as_of: NaiveDate::from_str("2026-03-01")?,
                buckets: Default::default(),
                customer_id: None,
                detail: true,
            })
            .await?;
        let b = target
            .aging(&arrears_engine::store::AgingQuery {
                as_of: NaiveDate::from_str("2026-03-01")?,
                buckets: Default::default(),
                customer_id: None,
                detail: true,
            })
            .await?;
        assert_eq!(a.totals, b.totals, "{}", db.backend);
        db.cleanup().await;
    }
    Ok(())
}
