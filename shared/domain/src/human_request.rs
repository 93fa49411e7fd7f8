//! Does a customer's message ask for a person? In English, Spanish, Portuguese, French,
//! German, Italian and Dutch, direct ("agent please", "real person") and indirect ("can
//! someone call me", "is there anyone I can talk to", "get me your manager", "transfer
//! me").
//!
//! Two kinds of evidence, matched on the normalised words (lower case, accents folded,
//! punctuation dropped):
//! - a phrase that alone means "a person, not this bot" ([`ALONE`]);
//! - a way of reaching someone ([`REACH`]: talk, speak, call, connect me, transfer me, …)
//!   within [`NEAR`] words of someone to reach ([`PERSON`]: someone, anyone, a manager,
//!   customer service, …), in either order, not negated ("I don't need to talk to anyone").
//!
//! A topic in the same sentence does not matter ("can I talk to someone about my card
//! limit" asks for a person): the rule runs before the knowledge base is consulted.

/// Phrases that on their own ask for a person.
const ALONE: &[&str] = &[
    "human",
    "humans",
    "human being",
    "real person",
    "live person",
    "actual person",
    "someone real",
    "real human",
    "real people",
    "agent",
    "agents",
    "live agent",
    "representative",
    "customer service rep",
    "operator",
    "not a bot",
    "stop the bot",
    "no bot",
    "no more bot",
    "no robot",
    "is there anyone",
    "is anyone there",
    "anyone there",
    "is there someone",
    "is there somebody",
    "your manager",
    "the manager",
    "a manager",
    "manager please",
    "your supervisor",
    "a supervisor",
    "the supervisor",
    "supervisor please",
    "call me back",
    "callback",
    "call back",
    "give me a call",
    "phone me",
    "ring me",
    "transfer me",
    "put me through",
    "call me",
    "have someone",
    "have somebody",
    "get someone",
    "get somebody",
    "need someone",
    "need somebody",
    "want someone",
    "send someone",
    "need a person",
    "want a person",
    "get a person",
    "who can i talk to",
    "who can i speak to",
    "who can i speak with",
    "who do i talk to",
    "who do i speak to",
    "who should i talk to",
    "who should i speak to",
    "who can i contact",
    "who do i contact",
    "who should i contact",
    "who can i call",
    "who do i call",
    "who should i call",
    "customer service number",
    "customer service line",
    "support number",
    "support line",
    "phone support",
    "hotline",
    "call center",
    "call centre",
    "phone number to call",
    "number i can call",
    "number to call",
    "can i call you",
    "can i phone you",
    "real support",
    "speak to a live",
    "talk to a live",
    // es
    "humano",
    "persona real",
    "un asesor",
    "una persona de verdad",
    "llamenme",
    "llameme",
    "pasame con",
    "paseme con",
    "transfiereme",
    "un supervisor",
    "el gerente",
    "su gerente",
    // pt
    "atendente",
    "pessoa real",
    "um humano",
    "me liguem",
    "me ligue",
    "me transfira",
    "o gerente",
    "seu gerente",
    // fr
    "un humain",
    "une vraie personne",
    "un vrai humain",
    "un conseiller",
    "une conseillere",
    "rappelez moi",
    "me rappeler",
    "le responsable",
    "votre responsable",
    // de
    "echten menschen",
    "echter mensch",
    "einen menschen",
    "einem menschen",
    "einen mitarbeiter",
    "einem mitarbeiter",
    "ruckruf",
    "rufen sie mich an",
    "ihren vorgesetzten",
    // it
    "un operatore",
    "un umano",
    "persona reale",
    "richiamatemi",
    "mi richiami",
    "mi richiamate",
    "il responsabile",
    // nl
    "een mens",
    "een medewerker",
    "echt persoon",
    "echte persoon",
    "bel me",
    "bel mij",
    "terugbellen",
    "doorverbinden",
    "uw leidinggevende",
];

/// Ways of reaching someone.
const REACH: &[&str] = &[
    "talk",
    "talking",
    "speak",
    "speaking",
    "chat",
    "chatting",
    "call",
    "phone",
    "ring",
    "reach",
    "contact",
    "connect me",
    "put me",
    "get me",
    "give me",
    "pass me",
    "hand me",
    "send me to",
    "forward me",
    "escalate",
    "deal with",
    "in touch",
    "pass this",
    "pass it",
    "hand this",
    "hand it",
    "forward this",
    "help from",
    // es
    "hablar",
    "hable",
    "comunicarme",
    "contactar",
    "llamar",
    "llame",
    "llamen",
    "atienda",
    "atender",
    "transferir",
    "ponme",
    "pongame",
    // pt
    "falar",
    "fale",
    "conversar",
    "ligar",
    "liguem",
    "contatar",
    "atender",
    "passar para",
    // fr
    "parler",
    "joindre",
    "contacter",
    "appeler",
    "appelle",
    "rappeler",
    "rappelle",
    "transferer",
    "passer",
    // de
    "sprechen",
    "reden",
    "anrufen",
    "zuruckrufen",
    "verbinden",
    "kontaktieren",
    "erreichen",
    // it
    "parlare",
    "contattare",
    "chiamare",
    "chiamatemi",
    "richiamare",
    "passarmi",
    "trasferire",
    // nl
    "spreken",
    "praten",
    "bellen",
    "verbinden",
];

/// Asking for help counts only from someone named first ("can anyone help me", "could a
/// person help"), or "from" them: "I need help since someone stole my card" is not it.
const HELP: &[&str] = &[
    "help", "ayudar", "ayude", "ayudarme", "ajudar", "aider", "helfen", "aiutare", "aiutarmi", "helpen",
];

/// People to reach.
const PERSON: &[&str] = &[
    "someone",
    "somebody",
    "anyone",
    "anybody",
    "a person",
    "person",
    "people",
    "manager",
    "supervisor",
    "staff",
    "staff member",
    "employee",
    "advisor",
    "adviser",
    "consultant",
    "specialist",
    "associate",
    "customer service",
    "customer support",
    "customer care",
    "support team",
    "support staff",
    "team",
    "department",
    "live chat",
    "live support",
    "help desk",
    "helpdesk",
    "service desk",
    "support",
    "boss",
    "colleague",
    "colleagues",
    "member of staff",
    "team member",
    "member of your team",
    // es
    "alguien",
    "una persona",
    "un agente",
    "agente",
    "asesor",
    "operador",
    "gerente",
    "encargado",
    "responsable",
    "empleado",
    "servicio al cliente",
    "atencion al cliente",
    // pt
    "alguem",
    "uma pessoa",
    "funcionario",
    "responsavel",
    "suporte",
    // fr
    "quelqu un",
    "une personne",
    "humain",
    "conseiller",
    "conseillere",
    "directeur",
    "superviseur",
    "operateur",
    "employe",
    "service client",
    // de
    "jemand",
    "jemandem",
    "jemanden",
    "mensch",
    "menschen",
    "mitarbeiter",
    "mitarbeiterin",
    "berater",
    "beraterin",
    "vorgesetzten",
    "vorgesetzter",
    "chef",
    "kundenservice",
    "kundendienst",
    // it
    "qualcuno",
    "una persona",
    "umano",
    "operatore",
    "operatrice",
    "direttore",
    "supervisore",
    "addetto",
    "assistenza clienti",
    // nl
    "iemand",
    "mens",
    "medewerker",
    "medewerkster",
    "leidinggevende",
    "klantenservice",
];

/// Words before a match that turn it around ("I don't need to talk to anyone").
const NEGATIONS: &[&str] = &[
    "dont", "don t", "do not", "no need", "not need", "never", "without", "nunca", "sin", "sem", "sans", "ohne",
    "senza", "zonder", "nicht",
];

/// Not wanting the bot is wanting a person: one of these ...
const BOT: &[&str] = &[
    "bot",
    "bots",
    "robot",
    "robots",
    "chatbot",
    "chatbots",
    "chat bot",
    "ai",
    "automated",
];

/// ... after one of these ("no more bots", "I don't want to talk to a robot", "stop the AI").
const REFUSALS: &[&str] = &[
    "no",
    "not",
    "dont",
    "don t",
    "stop",
    "enough",
    "tired",
    "sick",
    "hate",
    "instead of",
    "rather than",
    "other than",
    "nao",
    "non",
    "pas",
    "kein",
    "keinen",
    "keine",
    "nicht",
    "geen",
    "niet",
];

/// How many words may stand between a way of reaching and the person reached.
pub const NEAR: usize = 4;

/// Where each of `phrases` occurs in `words`: `(first word, one past the last)`.
fn occurrences(words: &[&str], phrases: &[&str]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    for p in phrases {
        let p: Vec<&str> = p.split(' ').collect();
        if p.len() > words.len() {
            continue;
        }
        for start in 0..=words.len() - p.len() {
            if words[start..start + p.len()] == p[..] {
                found.push((start, start + p.len()));
            }
        }
    }
    found
}

fn negated(words: &[&str], at: usize) -> bool {
    let from = at.saturating_sub(NEAR);
    let before = words[from..at].join(" ");
    NEGATIONS.iter().any(|n| crate::triage::contains_phrase(&before, n))
}

/// Whether the normalised text (see `triage::normalise`) asks for a person.
pub fn asks_for_human(normalised: &str) -> bool {
    let words: Vec<&str> = normalised.split(' ').filter(|w| !w.is_empty()).collect();
    if occurrences(&words, ALONE).iter().any(|&(s, _)| !negated(&words, s)) {
        return true;
    }
    let refusals = occurrences(&words, REFUSALS);
    if occurrences(&words, BOT)
        .iter()
        .any(|&(bs, _)| refusals.iter().any(|&(_, re)| re <= bs && bs - re <= NEAR + 2))
    {
        return true;
    }
    let person = occurrences(&words, PERSON);
    let near = |(rs, re): (usize, usize), after: bool| {
        !negated(&words, rs)
            && person
                .iter()
                .any(|&(ps, pe)| (pe <= rs && rs - pe <= NEAR) || (after && ps >= re && ps - re <= NEAR))
    };
    occurrences(&words, REACH).into_iter().any(|r| near(r, true))
        || occurrences(&words, HELP).into_iter().any(|r| near(r, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triage::normalise;

    fn asks(text: &str) -> bool {
        asks_for_human(&normalise(text))
    }

    #[test]
    fn direct_and_indirect_requests_for_a_person_are_recognised_in_seven_languages() {
        for text in [
            "I want to speak to a human",
            "agent please",
            "can someone call me",
            "Can someone call me about my credit limit?",
            "is there anyone I can talk to",
            "get me your manager",
            "transfer me",
            "transfer me to someone who can fix my card",
            "I'd like to speak with a manager about my declined card",
            "connect me with customer service",
            "how do I contact customer support",
            "I need to talk to somebody about a charge",
            "please have someone phone me",
            "put me through to a supervisor",
            "can I chat with a staff member",
            "let me talk to a real person",
            "I want a callback",
            "could an employee help me with my pin",
            "can anybody help me",
            "Quiero hablar con alguien sobre mi tarjeta",
            "¿Me puede llamar alguien?",
            "Páseme con un supervisor",
            "Necesito hablar con el gerente",
            "Quero falar com alguém sobre meu cartão",
            "Me liguem por favor",
            "Je voudrais parler à quelqu'un",
            "Rappelez-moi s'il vous plaît",
            "Pouvez-vous me passer un conseiller ?",
            "Kann mich jemand anrufen?",
            "Ich möchte mit einem Mitarbeiter sprechen",
            "Bitte um Rückruf",
            "Vorrei parlare con qualcuno",
            "Posso parlare con un operatore?",
            "Mi richiami per favore",
            "Kan ik iemand spreken?",
            "Ik wil een medewerker spreken",
            "Kunt u mij terugbellen?",
            "I don't want to talk to a bot",
            "no more bots please",
            "No quiero hablar con un robot",
            "who can I speak to about a fraudulent charge?",
            "is there a customer service number I can call",
            "please call me",
            "can I have someone look at my account",
            "put me in touch with your fraud team",
            "could you pass this on to a colleague",
            "connect me to support",
            "Representative.",
            "Operator!!",
            "why can't I talk to a human",
            "I need a human to look at this",
            "I'd rather deal with a person",
        ] {
            assert!(asks(text), "{text}");
        }
    }

    #[test]
    fn questions_that_only_mention_people_or_calls_are_not_requests() {
        for text in [
            "how much can a person withdraw per day",
            "how do I transfer money to my savings account",
            "can you tell me my balance",
            "what is the interest rate on my card",
            "I lost my phone, how do I freeze my card",
            "how do I update my contact details",
            "when will my package reach me",
            "I don't need to talk to anyone, just tell me my limit",
            "my account manager changed my limit",
            "my card does not work in the machine",
            "I don't need a human, what is my balance",
            "someone stole my card",
            "i need help since someone stole my card",
        ] {
            assert!(!asks(text), "{text}");
        }
    }
}
