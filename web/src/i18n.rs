//! The UI's words in English and Polish: a message catalogue looked up by key and language,
//! English when a language or a key is missing. Pages (the login page, the debtor page, the
//! collectors' desk, the dashboard, the scenario pages) take every human-readable string
//! from here; amounts and dates are formatted by the correspondence's locale helpers.

/// A language the UI speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Pl,
}

impl Lang {
    /// The UI language for a customer's or user's language code; English for any other.
    pub fn of(code: &str) -> Lang {
        match code.trim().to_ascii_lowercase().as_str() {
            "pl" => Lang::Pl,
            _ => Lang::En,
        }
    }

    /// The code for `<html lang>` and the locale helpers.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Pl => "pl",
        }
    }

    fn catalogue(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Lang::En => EN,
            Lang::Pl => PL,
        }
    }
}

/// The message `key` in `lang`, in English when the language lacks it, and the key itself
/// when no language has it (a visible mistake rather than an empty string).
pub fn t(lang: Lang, key: &'static str) -> &'static str {
    let find = |l: Lang| l.catalogue().iter().find(|(k, _)| *k == key).map(|e| e.1);
    find(lang).or_else(|| find(Lang::En)).unwrap_or(key)
}

/// The message `key` with each `{name}` replaced by its value.
pub fn tf(lang: Lang, key: &'static str, args: &[(&str, &str)]) -> String {
    let mut text = t(lang, key).to_string();
    for (name, value) in args {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

const EN: &[(&str, &str)] = &[
    ("pay.title", "Your account"),
    ("pay.creditor", "Creditor: {name}"),
    ("pay.greeting", "Statement for {name} as of {date}"),
    ("pay.items", "Open items"),
    ("pay.document", "Document"),
    ("pay.due", "Due date"),
    ("pay.days_overdue", "Days overdue"),
    ("pay.open", "Amount open"),
    ("pay.balance", "Balance"),
    ("pay.overdue", "of which overdue"),
    ("pay.nothing_open", "Nothing is open on your account."),
    ("pay.proof.title", "Send a proof of payment"),
    (
        "pay.proof.hint",
        "A PDF, JPEG or PNG file of at most {size} MB.",
    ),
    ("pay.proof.file", "Proof of payment file"),
    ("pay.proof.submit", "Send the proof"),
    ("pay.promise.title", "Promise to pay"),
    (
        "pay.promise.hint",
        "Tell us when you will pay and how much; we will wait until then.",
    ),
    ("pay.promise.date", "Payment date"),
    ("pay.promise.amount", "Amount"),
    ("pay.promise.submit", "Send the promise"),
    ("pay.thanks.title", "Thank you"),
    (
        "pay.thanks.proof",
        "We have received your proof of payment. We will check it and update your account.",
    ),
    (
        "pay.thanks.promise",
        "We have recorded your promise to pay {amount} by {date}.",
    ),
    ("pay.back", "Back to your account"),
    ("pay.errors", "Please correct the marked fields."),
    ("error.invalid_link.title", "This link is not valid"),
    (
        "error.invalid_link.text",
        "The link may have expired or been withdrawn. Please contact your creditor for a new one.",
    ),
    ("error.too_large.title", "The file is too large"),
    (
        "error.too_large.text",
        "Files of at most {size} MB are accepted. Please send a smaller file.",
    ),
    ("error.bad_type.title", "This file type is not accepted"),
    (
        "error.bad_type.text",
        "Only PDF, JPEG and PNG files are accepted; the file sent is none of them, whatever its name says.",
    ),
    ("error.no_file", "Choose a file to send."),
    ("error.forbidden.title", "The form has expired"),
    (
        "error.forbidden.text",
        "Please open the page again and send the form from there.",
    ),
    ("error.rate.title", "Too many requests"),
    (
        "error.rate.text",
        "Please wait {seconds} seconds before trying again.",
    ),
    ("error.internal.title", "Something went wrong"),
    (
        "error.internal.text",
        "Please try again later. Nothing was changed.",
    ),
    ("error.date.missing", "Enter a date like 2026-12-31."),
    ("error.date.past", "The date cannot be in the past."),
    (
        "error.date.far",
        "The date can be at most {days} days ahead.",
    ),
    ("error.amount.missing", "Enter an amount like 120.50."),
    (
        "error.amount.positive",
        "The amount must be more than zero.",
    ),
    (
        "error.amount.balance",
        "The amount cannot be more than the balance ({balance}).",
    ),
    ("ui.overview", "Overview"),
    ("ui.inbox", "Tasks"),
    ("ui.mine", "My tasks"),
    ("ui.team", "My team's tasks"),
    ("ui.all", "All open tasks"),
    ("ui.sort", "Sort"),
    ("ui.by_due", "by due date"),
    ("ui.by_amount", "by amount overdue"),
    ("ui.no_tasks", "No open tasks."),
    ("ui.task", "Task"),
    ("ui.assigned", "Assigned to"),
    ("ui.due", "Due"),
    ("ui.status", "Status"),
    ("ui.overdue", "Overdue"),
    ("ui.not_found", "Not found"),
    ("ui.scenario", "Scenario"),
    ("ui.step", "Step"),
    ("ui.balance", "Balance"),
    ("ui.promise", "Promise to pay {amount} by {date}"),
    ("ui.open_items", "Open items"),
    ("ui.document", "Document"),
    ("ui.days_overdue", "Days overdue"),
    ("ui.open", "Open"),
    ("ui.tasks", "Tasks of this case"),
    ("ui.notes", "Notes"),
    ("ui.no_notes", "No notes yet."),
    ("ui.note", "Note"),
    ("ui.add_note", "Add the note"),
    ("ui.history", "History"),
    ("ui.when", "When"),
    ("ui.who", "Who"),
    ("ui.what", "What happened"),
    ("ui.documents", "Documents"),
    ("ui.case_title", "Case {id}: {name}"),
    ("ui.outcome", "Outcome"),
    ("ui.complete", "Complete the task"),
    ("ui.forward_to", "Forward to user"),
    ("ui.comment", "Comment"),
    ("ui.forward", "Forward"),
    ("ui.next_contact", "Next contact date"),
    ("ui.set_next_contact", "Set the next contact"),
    ("ui.back", "Back"),
    ("ui.refused", "Not done"),
    ("ui.choose_outcome", "Choose an outcome."),
    ("ui.name_user", "Name the user to forward the task to."),
    ("ui.bad_date", "Give the next contact date as a date."),
    ("ui.approvals", "Letters to approve"),
    ("ui.no_approvals", "No letter waits for approval."),
    ("ui.approve", "Approve"),
    ("ui.case", "Case"),
    ("ui.prepared_by", "Prepared by"),
    ("ui.approve_doc", "Approve document {id}"),
    ("ui.approve_selected", "Approve the selected letters"),
    (
        "ui.choose_letters",
        "Choose at least one letter to approve.",
    ),
    ("ui.dashboard", "Dashboard"),
    ("ui.scenarios", "Scenarios"),
    ("dash.as_of", "Figures as of {date}."),
    (
        "dash.chart_desc",
        "A chart of the figures in the table that follows it.",
    ),
    ("dash.cases", "Open cases by scenario and step"),
    ("dash.no_cases", "No case is open."),
    ("dash.open_cases", "Open cases"),
    ("dash.total", "Total"),
    (
        "dash.overdue_by_scenario",
        "Overdue in open cases by scenario ({currency})",
    ),
    ("dash.recovered", "Recovered this month"),
    (
        "dash.recovered_hint",
        "Payments allocated to receivables of open cases from {from} to {to}, by value date.",
    ),
    ("dash.recovered_chart", "Recovered per day ({currency})"),
    (
        "dash.nothing_recovered",
        "Nothing recovered this month yet.",
    ),
    ("dash.day", "Day"),
    ("dash.amount", "Amount"),
    ("dash.tasks", "Tasks overdue"),
    ("dash.tasks_chart", "Overdue tasks by assignee"),
    ("dash.none_overdue", "No task is overdue."),
    ("dash.open_tasks", "Open tasks"),
    ("dash.overdue_tasks", "Overdue"),
    ("dash.oldest", "Oldest overdue, due"),
    ("dash.role", "anyone with the role {role}"),
    ("dash.nobody", "nobody"),
    ("sc.deployed", "version {version}, deployed {when} by {who}"),
    (
        "sc.none",
        "No scenario is deployed yet: `arrears scenario deploy` deploys them.",
    ),
    ("sc.title", "Title"),
    ("sc.versions", "Deployed versions"),
    ("sc.unknown", "No scenario `{id}` is deployed."),
    (
        "sc.unknown_version",
        "Scenario `{id}` has no deployed version `{version}`.",
    ),
    ("sc.version", "Version"),
    ("sc.show", "Show"),
    ("sc.check", "Check result"),
    (
        "sc.clean",
        "`arrears scenario check` finds no errors and no warnings in this version.",
    ),
    (
        "sc.no_flow",
        "This version does not pass the check any more (its templates or calendar changed?), so it cannot be drawn.",
    ),
    ("sc.page_title", "Scenario {id}"),
    ("sc.flow_title", "Flowchart of {id}, version {version}"),
    ("sc.flowchart", "Flowchart"),
    (
        "sc.flow_desc",
        "Steps from top to bottom, each with its open cases; arrows are labelled with conditions and task outcomes; dashed arrows lead back. The table below lists the same steps.",
    ),
    ("sc.cases_n", "{n} open cases"),
    ("sc.kind", "Kind"),
    ("sc.does", "What it does"),
    ("sc.goes_to", "Goes to"),
    ("sc.steps", "Steps and open cases"),
    ("sc.events", "Events at any step"),
    ("sc.event", "Event"),
    ("sc.action", "Action"),
    ("sc.error", "error"),
    ("sc.warning", "warning"),
    ("sc.position", "line {line}, column {column}"),
    ("login.title", "Sign in to arrears"),
    ("login.name", "User name"),
    ("login.password", "Password"),
    ("login.sign_in", "Sign in"),
    ("login.refused", "Wrong user name or password."),
    (
        "login.expired",
        "The login form expired. Please sign in again.",
    ),
    ("login.signed_in", "Signed in as {name} ({role})."),
    ("login.sign_out", "Sign out"),
    ("ui.no_credits", "No bank credit waits for matching."),
    ("ui.payer", "Payer"),
    ("ui.remittance", "Remittance"),
    (
        "ui.guess",
        "Matching guessed {customer} ({confidence}% sure)",
    ),
    ("ui.no_guess", "Matching found no customer"),
    ("ui.why", "Why"),
    (
        "ui.invoice_numbers",
        "Invoice numbers, comma-separated (empty: the oldest due first)",
    ),
    (
        "ui.keep_unallocated",
        "Keep as unallocated money on the customer's account",
    ),
    ("ui.match_credit", "Book for this customer"),
    (
        "ui.name_customer",
        "Give the number of the customer who paid.",
    ),
    ("ui.matching", "Payments to match"),
    ("ui.request", "Ask for a case"),
    ("ui.requests", "Case requests"),
    ("ui.request_title", "Ask collections to start a case"),
    (
        "ui.request_hint",
        "Give the customer's number or the number of one of its open invoices, and say why collections should start a case. The collections lead accepts or rejects the request; you see the answer below.",
    ),
    ("ui.customer_number", "Customer number"),
    ("ui.invoice_number", "Invoice number"),
    ("ui.reason", "Reason"),
    ("ui.send_request", "Send the request"),
    ("ui.my_requests", "My requests"),
    ("ui.no_requests", "You have not asked for a case yet."),
    ("ui.customer", "Customer"),
    ("ui.decision", "Decision"),
    ("ui.request_pending", "waiting for the collections lead"),
    ("ui.request_accepted", "accepted"),
    ("ui.request_rejected", "rejected"),
    ("ui.case_link", "case {id}"),
    ("ui.no_pending_requests", "No request waits for a decision."),
    ("ui.requested_by", "Asked by"),
    ("ui.scenario_auto", "the scenario that applies"),
    ("ui.accept_request", "Accept and start the case"),
    ("ui.reject_reason", "Why not (the requester reads it)"),
    ("ui.reject_request", "Reject"),
    ("ui.decided_requests", "Decided"),
];

const PL: &[(&str, &str)] = &[
    ("pay.title", "Twoje rozliczenie"),
    ("pay.creditor", "Wierzyciel: {name}"),
    ("pay.greeting", "Zestawienie dla {name} na dzień {date}"),
    ("pay.items", "Nierozliczone dokumenty"),
    ("pay.document", "Dokument"),
    ("pay.due", "Termin płatności"),
    ("pay.days_overdue", "Dni po terminie"),
    ("pay.open", "Do zapłaty"),
    ("pay.balance", "Saldo"),
    ("pay.overdue", "w tym przeterminowane"),
    (
        "pay.nothing_open",
        "Na Twoim koncie nie ma nierozliczonych dokumentów.",
    ),
    ("pay.proof.title", "Prześlij potwierdzenie zapłaty"),
    (
        "pay.proof.hint",
        "Plik PDF, JPEG lub PNG o rozmiarze najwyżej {size} MB.",
    ),
    ("pay.proof.file", "Plik z potwierdzeniem zapłaty"),
    ("pay.proof.submit", "Wyślij potwierdzenie"),
    ("pay.promise.title", "Deklaracja zapłaty"),
    (
        "pay.promise.hint",
        "Podaj, kiedy i ile zapłacisz; do tego dnia wstrzymamy działania.",
    ),
    ("pay.promise.date", "Data zapłaty"),
    ("pay.promise.amount", "Kwota"),
    ("pay.promise.submit", "Wyślij deklarację"),
    ("pay.thanks.title", "Dziękujemy"),
    (
        "pay.thanks.proof",
        "Otrzymaliśmy potwierdzenie zapłaty. Sprawdzimy je i zaktualizujemy Twoje rozliczenie.",
    ),
    (
        "pay.thanks.promise",
        "Zapisaliśmy deklarację zapłaty {amount} do dnia {date}.",
    ),
    ("pay.back", "Wróć do rozliczenia"),
    ("pay.errors", "Popraw zaznaczone pola."),
    ("error.invalid_link.title", "Ten link jest nieważny"),
    (
        "error.invalid_link.text",
        "Link mógł wygasnąć lub zostać wycofany. Skontaktuj się z wierzycielem, aby otrzymać nowy.",
    ),
    ("error.too_large.title", "Plik jest za duży"),
    (
        "error.too_large.text",
        "Przyjmujemy pliki o rozmiarze najwyżej {size} MB. Prześlij mniejszy plik.",
    ),
    (
        "error.bad_type.title",
        "Ten rodzaj pliku nie jest przyjmowany",
    ),
    (
        "error.bad_type.text",
        "Przyjmujemy tylko pliki PDF, JPEG i PNG; przesłany plik nie jest żadnym z nich, niezależnie od nazwy.",
    ),
    ("error.no_file", "Wybierz plik do wysłania."),
    ("error.forbidden.title", "Formularz wygasł"),
    (
        "error.forbidden.text",
        "Otwórz stronę ponownie i wyślij formularz stamtąd.",
    ),
    ("error.rate.title", "Zbyt wiele żądań"),
    (
        "error.rate.text",
        "Odczekaj {seconds} s i spróbuj ponownie.",
    ),
    ("error.internal.title", "Coś poszło nie tak"),
    (
        "error.internal.text",
        "Spróbuj ponownie później. Niczego nie zmieniono.",
    ),
    ("error.date.missing", "Podaj datę w postaci 2026-12-31."),
    ("error.date.past", "Data nie może być z przeszłości."),
    (
        "error.date.far",
        "Data może być najwyżej {days} dni naprzód.",
    ),
    ("error.amount.missing", "Podaj kwotę w postaci 120,50."),
    ("error.amount.positive", "Kwota musi być większa od zera."),
    (
        "error.amount.balance",
        "Kwota nie może przekraczać salda ({balance}).",
    ),
    ("ui.overview", "Przegląd"),
    ("ui.inbox", "Zadania"),
    ("ui.mine", "Moje zadania"),
    ("ui.team", "Zadania zespołu"),
    ("ui.all", "Wszystkie otwarte"),
    ("ui.sort", "Sortuj"),
    ("ui.by_due", "wg terminu"),
    ("ui.by_amount", "wg kwoty przeterminowanej"),
    ("ui.no_tasks", "Brak otwartych zadań."),
    ("ui.task", "Zadanie"),
    ("ui.assigned", "Przypisane do"),
    ("ui.due", "Termin"),
    ("ui.status", "Stan"),
    ("ui.overdue", "Przeterminowane"),
    ("ui.not_found", "Nie znaleziono"),
    ("ui.scenario", "Scenariusz"),
    ("ui.step", "Krok"),
    ("ui.balance", "Saldo"),
    ("ui.promise", "Obietnica zapłaty {amount} do {date}"),
    ("ui.open_items", "Otwarte pozycje"),
    ("ui.document", "Dokument"),
    ("ui.days_overdue", "Dni po terminie"),
    ("ui.open", "Do zapłaty"),
    ("ui.tasks", "Zadania tej sprawy"),
    ("ui.notes", "Notatki"),
    ("ui.no_notes", "Nie ma jeszcze notatek."),
    ("ui.note", "Notatka"),
    ("ui.add_note", "Dodaj notatkę"),
    ("ui.history", "Historia"),
    ("ui.when", "Kiedy"),
    ("ui.who", "Kto"),
    ("ui.what", "Co się stało"),
    ("ui.documents", "Dokumenty"),
    ("ui.case_title", "Sprawa {id}: {name}"),
    ("ui.outcome", "Wynik"),
    ("ui.complete", "Zakończ zadanie"),
    ("ui.forward_to", "Przekaż użytkownikowi"),
    ("ui.comment", "Komentarz"),
    ("ui.forward", "Przekaż"),
    ("ui.next_contact", "Data następnego kontaktu"),
    ("ui.set_next_contact", "Ustaw następny kontakt"),
    ("ui.back", "Wróć"),
    ("ui.refused", "Nie wykonano"),
    ("ui.choose_outcome", "Wybierz wynik."),
    (
        "ui.name_user",
        "Podaj użytkownika, któremu przekazać zadanie.",
    ),
    ("ui.bad_date", "Podaj datę następnego kontaktu."),
    ("ui.approvals", "Pisma do zatwierdzenia"),
    ("ui.no_approvals", "Żadne pismo nie czeka na zatwierdzenie."),
    ("ui.approve", "Zatwierdź"),
    ("ui.case", "Sprawa"),
    ("ui.prepared_by", "Przygotował"),
    ("ui.approve_doc", "Zatwierdź dokument {id}"),
    ("ui.approve_selected", "Zatwierdź zaznaczone pisma"),
    ("ui.choose_letters", "Zaznacz co najmniej jedno pismo."),
    ("ui.dashboard", "Pulpit"),
    ("ui.scenarios", "Scenariusze"),
    ("dash.as_of", "Dane na dzień {date}."),
    ("dash.chart_desc", "Wykres danych z tabeli pod nim."),
    ("dash.cases", "Otwarte sprawy wg scenariusza i kroku"),
    ("dash.no_cases", "Brak otwartych spraw."),
    ("dash.open_cases", "Otwarte sprawy"),
    ("dash.total", "Razem"),
    (
        "dash.overdue_by_scenario",
        "Przeterminowane w otwartych sprawach wg scenariusza ({currency})",
    ),
    ("dash.recovered", "Odzyskano w tym miesiącu"),
    (
        "dash.recovered_hint",
        "Wpłaty rozliczone na należności otwartych spraw od {from} do {to}, wg daty waluty.",
    ),
    ("dash.recovered_chart", "Odzyskano dziennie ({currency})"),
    (
        "dash.nothing_recovered",
        "W tym miesiącu jeszcze nic nie odzyskano.",
    ),
    ("dash.day", "Dzień"),
    ("dash.amount", "Kwota"),
    ("dash.tasks", "Zadania po terminie"),
    ("dash.tasks_chart", "Zadania po terminie wg osoby"),
    ("dash.none_overdue", "Żadne zadanie nie jest po terminie."),
    ("dash.open_tasks", "Otwarte zadania"),
    ("dash.overdue_tasks", "Po terminie"),
    ("dash.oldest", "Najstarsze po terminie, termin"),
    ("dash.role", "dowolna osoba z rolą {role}"),
    ("dash.nobody", "nikt"),
    (
        "sc.deployed",
        "wersja {version}, wdrożona {when} przez {who}",
    ),
    (
        "sc.none",
        "Żaden scenariusz nie jest jeszcze wdrożony: wdraża je `arrears scenario deploy`.",
    ),
    ("sc.title", "Tytuł"),
    ("sc.versions", "Wdrożone wersje"),
    ("sc.unknown", "Scenariusz `{id}` nie jest wdrożony."),
    (
        "sc.unknown_version",
        "Scenariusz `{id}` nie ma wdrożonej wersji `{version}`.",
    ),
    ("sc.version", "Wersja"),
    ("sc.show", "Pokaż"),
    ("sc.check", "Wynik sprawdzenia"),
    (
        "sc.clean",
        "`arrears scenario check` nie znajduje w tej wersji błędów ani ostrzeżeń.",
    ),
    (
        "sc.no_flow",
        "Ta wersja nie przechodzi już sprawdzenia (zmieniły się szablony lub kalendarz?), więc nie da się jej narysować.",
    ),
    ("sc.page_title", "Scenariusz {id}"),
    (
        "sc.flow_title",
        "Schemat scenariusza {id}, wersja {version}",
    ),
    ("sc.flowchart", "Schemat"),
    (
        "sc.flow_desc",
        "Kroki od góry do dołu, każdy z liczbą otwartych spraw; strzałki opisują warunki i wyniki zadań; przerywane prowadzą wstecz. Tabela poniżej wymienia te same kroki.",
    ),
    ("sc.cases_n", "otwarte sprawy: {n}"),
    ("sc.kind", "Rodzaj"),
    ("sc.does", "Co robi"),
    ("sc.goes_to", "Dalej"),
    ("sc.steps", "Kroki i otwarte sprawy"),
    ("sc.events", "Zdarzenia na każdym kroku"),
    ("sc.event", "Zdarzenie"),
    ("sc.action", "Działanie"),
    ("sc.error", "błąd"),
    ("sc.warning", "ostrzeżenie"),
    ("sc.position", "wiersz {line}, kolumna {column}"),
    ("login.title", "Logowanie do arrears"),
    ("login.name", "Nazwa użytkownika"),
    ("login.password", "Hasło"),
    ("login.sign_in", "Zaloguj się"),
    ("login.refused", "Błędna nazwa użytkownika lub hasło."),
    (
        "login.expired",
        "Formularz logowania wygasł. Zaloguj się ponownie.",
    ),
    ("login.signed_in", "Zalogowano jako {name} ({role})."),
    ("login.sign_out", "Wyloguj"),
    ("ui.no_credits", "Żadna wpłata nie czeka na dopasowanie."),
    ("ui.payer", "Wpłacający"),
    ("ui.remittance", "Tytuł przelewu"),
    (
        "ui.guess",
        "Dopasowanie wskazało {customer} (pewność {confidence}%)",
    ),
    ("ui.no_guess", "Dopasowanie nie znalazło klienta"),
    ("ui.why", "Dlaczego"),
    (
        "ui.invoice_numbers",
        "Numery faktur, po przecinku (puste: najstarsze wymagalne najpierw)",
    ),
    (
        "ui.keep_unallocated",
        "Zostaw jako nierozliczoną wpłatę na koncie klienta",
    ),
    ("ui.match_credit", "Zaksięguj dla tego klienta"),
    ("ui.name_customer", "Podaj numer klienta, który zapłacił."),
    ("ui.matching", "Wpłaty do dopasowania"),
    ("ui.request", "Wniosek o sprawę"),
    ("ui.requests", "Wnioski o sprawy"),
    ("ui.request_title", "Poproś windykację o wszczęcie sprawy"),
    (
        "ui.request_hint",
        "Podaj numer klienta albo numer jednej z jego otwartych faktur i napisz, dlaczego windykacja powinna wszcząć sprawę. Kierownik windykacji przyjmie albo odrzuci wniosek; odpowiedź zobaczysz poniżej.",
    ),
    ("ui.customer_number", "Numer klienta"),
    ("ui.invoice_number", "Numer faktury"),
    ("ui.reason", "Uzasadnienie"),
    ("ui.send_request", "Wyślij wniosek"),
    ("ui.my_requests", "Moje wnioski"),
    ("ui.no_requests", "Nie złożono jeszcze żadnego wniosku."),
    ("ui.customer", "Klient"),
    ("ui.decision", "Decyzja"),
    ("ui.request_pending", "czeka na kierownika windykacji"),
    ("ui.request_accepted", "przyjęty"),
    ("ui.request_rejected", "odrzucony"),
    ("ui.case_link", "sprawa {id}"),
    (
        "ui.no_pending_requests",
        "Żaden wniosek nie czeka na decyzję.",
    ),
    ("ui.requested_by", "Wnioskodawca"),
    ("ui.scenario_auto", "scenariusz, który pasuje"),
    ("ui.accept_request", "Przyjmij i wszcznij sprawę"),
    (
        "ui.reject_reason",
        "Dlaczego nie (wnioskodawca to przeczyta)",
    ),
    ("ui.reject_request", "Odrzuć"),
    ("ui.decided_requests", "Rozpatrzone"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(l: Lang) -> Vec<&'static str> {
        let mut k: Vec<&str> = l.catalogue().iter().map(|e| e.0).collect();
        k.sort_unstable();
        k
    }

    #[test]
    fn every_key_exists_in_both_languages_once() {
        let (en, pl) = (keys(Lang::En), keys(Lang::Pl));
        let missing_pl: Vec<_> = en.iter().filter(|k| !pl.contains(k)).collect();
        let missing_en: Vec<_> = pl.iter().filter(|k| !en.contains(k)).collect();
        assert!(missing_pl.is_empty(), "missing in Polish: {missing_pl:?}");
        assert!(missing_en.is_empty(), "missing in English: {missing_en:?}");
        let mut dedup = en.clone();
        dedup.dedup();
        assert_eq!(dedup, en, "a key is listed twice");
    }

    #[test]
    fn placeholders_agree_between_languages() {
        let names = |s: &str| {
            let mut v: Vec<String> = s
                .split('{')
                .skip(1)
                .filter_map(|p| p.split_once('}').map(|x| x.0.to_string()))
                .collect();
            v.sort();
            v
        };
        for (key, en) in EN {
            assert_eq!(names(en), names(t(Lang::Pl, key)), "{key}");
        }
    }

    #[test]
    fn lookup_falls_back_to_english_then_to_the_key() {
        assert_eq!(t(Lang::Pl, "pay.balance"), "Saldo");
        assert_eq!(t(Lang::of("de"), "pay.balance"), "Balance");
        assert_eq!(t(Lang::Pl, "no.such.key"), "no.such.key");
        assert_eq!(
            tf(Lang::En, "error.date.far", &[("days", "60")]),
            "The date can be at most 60 days ahead."
        );
    }
}
