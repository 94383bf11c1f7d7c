"""Word lists and text tests used by the heuristic extractor. Pure.

Everything here is generic English about asking, answering, succeeding and
failing; nothing names a particular agent, service or tool.
"""

from __future__ import annotations

import functools
import json
import re


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# --- user messages -------------------------------------------------------------

#: verbs that ask for something to be done (not only looked up)
ACTION_VERBS = (
    "book|reserve|buy|purchase|get me|play|schedule|make|add|send|pay|transfer|order|rent|call"
    "|put|set up|set|convert|summari[sz]e|translate|deploy|write|create|post|run|cancel|start"
    "|stream|watch|listen|hire|arrange|fix|organi[sz]e|plan|draft|update|delete|remove|move|pull up"
)
_VERBS = f"(find|search|look|get|check|show|tell|give|list|explain|{ACTION_VERBS})"
#: the user asks for something to be done or found
REQUEST = _rx(
    r"\b(can|could|would|will) you\b|\bcan i\b"
    r"|\bi(?: would|'d| also| still| really| just| now)* (like|love)"
    r" (to|you to|a|an|some|me|\d+|one|two|three|four|five|six)\b"
    r"|\bi(?:'ll| will|'d| would|'m going to| am going to| also| still| really| just| now)*"
    r" (want|wanna|need|wish)\b"
    r"|\bi('m| am)( also| still| now| just)? (looking|searching|trying|hoping|interested)\b"
    r"|\b(wanna|gotta)\b|\bhelp me\b|\blet'?s\b|\bget me\b|\bshow me\b|\btell me\b|\bgive me\b"
    r"|\blet me (know|see|hear)\b"
    r"|\b(how|what)(?:'s| is| are| about)? (the|my)\b|\bhow'?s\b|\bam i\b"
    rf"|(^|[.,!;:]\s*|\b(and|but|then|so|now|please|just|also)\s+){_VERBS}\b"
)
#: a question, which asks for something when it is not about results already shown
QUESTION = _rx(
    r"\?|(^|[.,!;]\s*)(what|when|where|which|who|how(?! to\b)|is there|are there|do you have"
    r"|do you see"
    r"|any)\b"
)
#: the user asks to be told something
ASKING = _rx(
    r"\?|(^|[.,!;]\s*)(what|when|where|which|who|how|do|does|is|are|can|could|will)\b"
    r"|\b(tell me|give me|find out|let me know|i'?d like to know|i want to know)\b"
    r"|\bcheck (if|whether)\b"
)
#: a request that is declined ("no, I don't want tickets")
DECLINED = _rx(r"\b(don'?t|do not|not|no longer|won'?t) (want|need|like|think i)\b")
#: a request to act, not only to look up or tell
ACTION = _rx(rf"\b({ACTION_VERBS})\b|\breservation\b|\bappointment\b|\bbooking\b")
#: marks a request as an additional, separate one ("also", "now", "another thing")
NEW_MARKER = _rx(
    r"\b(also|another thing|one more thing|as well|in addition|additionally|besides)\b"
    r"|(^|[.,!;]\s*)(and )?(now|next|first|then)\b"
)
#: the user picks one of the offered results
SELECT = _rx(
    r"\b(go with|i'?ll take|i will take|take (it|that|this)|choose|pick(?! up)|this one|that one"
    r"|sounds? (good|great|perfect|fine|nice|interesting|fun|lovely)|works for me|is perfect"
    r"|is fine)\b"
)
#: the user is done
DONE = _rx(
    r"\b(that'?s|that is|that will be|that would be|that'?ll be) (all|it|everything)\b"
    r"|\bnothing (else|more)\b|\b(i'?m|i am) (done|all set|good)\b|\ball for (now|today)\b"
)
#: thanks, goodbyes and plain acknowledgements; they start nothing
CLOSING = _rx(
    r"^\W*(no\b|nope|nah|not (now|right now|yet|at the moment)"
    r"|that'?s (all|it|everything|fine|great|good|ok)"
    r"|thanks?|thank you|ty|great|perfect|ok(ay)?|cool|awesome|sounds good|bye|goodbye|nothing"
    r"|i'?m (good|done|all set)|all good|that will be all|that would be all|maybe later)\b"
)
#: asks to try again or differently: the task runs again
RETRY = _rx(
    r"\b((?<!thanks )(?<!thank you )again|instead|retry|re-?try"
    r"|try (it |that |another|other|a different|for|with|at)"
    r"|different|change (it|the|that)|make it)\b"
)
#: the assistant offers to do what the task did over ("try to use it again"); narrower
#: than RETRY, which also reads "instead" and "different" in the user's words
REDO = _rx(r"\b(again|retry|re-?try|re-?attempt|redo|re-?do)\b")
#: asks for other results: stays in the current task, which stays as it is
ALTERNATIVES = _rx(
    r"\b(any ?(thing|one)? else|anything other|something else|any others?"
    r"|other (options|ones|choices)"
    r"|what else|more (options|results)|(any|some) more|another one|keep looking|else"
    r"|the (others|other ones|rest))\b"
)
#: the user says a finished task went wrong
COMPLAINT = _rx(
    r"\b(that'?s|this is|it'?s|that was|it was) (wrong|not right|incorrect|not what i)"
    r"|\b(didn'?t|did not|doesn'?t|does not) (work|go through|arrive|come)"
    r"|\bis wrong\b|\bwas wrong\b"
)
#: the user abandons the current task
GIVE_UP = _rx(
    r"\b(never ?mind|forget (it|about it)|don'?t bother|cancel (it|that)|stop (it|that))\b"
)
#: the user leaves without the request done ("I'll contact customer service", "I'll call back")
LEAVING = _rx(
    r"\b(i'?ll|i will|i'?m going to|i am going to|i'?d rather)\s+(just\s+)?(try to\s+)?"
    r"(contact|call|reach out|talk to|speak (to|with)|go to|visit|ask|get back|come back"
    r"|try (again )?later|look elsewhere|handle it|do it myself|figure it out)\b"
    r"|\b(i give up|forget it|not worth it|i'?ll pass)\b"
)
#: a standing preference ("from now on", "always", "I prefer")
STANDING = _rx(r"\b(from now on|always|never|in (the )?future|i prefer|my preference)\b")
#: a preference meant for every request of the session, not only the current one
WHOLE_SESSION = _rx(
    r"\b(from now on|always|never|in (the )?future|every time|throughout|all my"
    r"|for (the |this |my )?(whole|entire|rest of (the|my)) (trip|journey|stay|holiday|vacation)"
    r"|for (all|every|each|both) (of )?(my |the )?(flights?|legs?|bookings?|trips?|requests?))\b"
)
AFFIRM = _rx(
    r"^\W*(yes|yeah|yep|yup|sure|ok(ay)?|please( do)?|go ahead|do it|of course|absolutely"
    r"|definitely|sounds good|that would be (great|nice|good)|i'?d (like|love) that|why not)\b"
)
#: the user confirms what the assistant just asked ("Yes, that's right", "That works")
CONFIRM = _rx(
    r"^\W*(yes|yeah|yep|yup|ye|sure|ok(ay)?|correct|right|exactly|perfect|fine|great|definitely"
    r"|absolutely|of course|please do|go ahead|that'?s (right|correct|fine|good|great|perfect)"
    r"|that is (right|correct|fine|good|great|perfect)|(that|it) (works|suits|sounds|seems)"
    r"|((that|it)('s| is) )?confirmed"
    r"|sounds? (good|great|fine|perfect))\b"
)
NEGATE = _rx(r"^\W*(no|nope|nah|not (now|yet|right now)|don'?t|do not|maybe later|not really)\b")

# --- assistant messages ----------------------------------------------------------

#: an opening that announces several changes to come, one at a time
SEVERAL_CHANGES = _rx(
    r"\b(some|a few|few|several|a couple( of)?|couple of|multiple|two|three|a number of)"
    r" (\w+ )?(changes|modifications|updates|adjustments|things to (change|update|fix))\b"
)
#: a request with effects outside the conversation, which a reply alone cannot carry out
SIDE_EFFECT = _rx(
    r"\b(book|reserve|buy|purchase|pay|transfer|send|order|rent|schedule|hire|cancel|call|play"
    r"|stream|cast|set up|change|modify|upgrade|downgrade|refund|remove|switch|adjust|update"
    r"|add|rebook|exchange)\b"
    r"|\b(book|reserv|purchas|transferr|sen|order|rent|schedul|hir|cancell?|call|play|stream"
    r"|chang|modif|upgrad|downgrad|refund|remov|switch|adjust|updat|add|rebook|exchang)"
    r"(e?s|ed|d|ing|ies|ied|ying|ication|ications|ation|ations|ations)\b"
    r"|\b(make|get|need|want|like) (a |an |the |some |\d+ )?(\w+ )?"
    r"(reservation|appointment|booking|tickets?)\b"
)

FAILURE = _rx(
    r"\b(couldn'?t|could not|can'?t|cannot|can not|unable|wasn'?t able|was not able|weren'?t able"
    r"|failed|failure|unsuccessful|not successful|wasn'?t successful|didn'?t go through"
    r"|did not go through|not possible|wasn'?t possible|no (results|matches|match)"
    r"|(didn'?t|did not|don'?t|do not) (find|see|have)|there (are|is|were|was) (no|not)\b"
    r"|there aren'?t|there isn'?t|nothing (found|matches|available)|not available|unavailable"
    r"|error|(i'?m )?sorry\b[^.?!]*\b(no|not|n't)\b)"
)
SUCCESS = _rx(
    r"\b(booked|reserved|confirmed|scheduled|purchased|bought|sent|transferred|paid|ordered"
    r"|successful(ly)?|success|done|all set|completed|is playing|now playing|playing now|started"
    r"|has been|have been|on (its|the) way|i (found|have found|see|managed)|found \d+"
    r"|here (is|are)|there (is|are) \d+|your .{0,40} (is|are) )"
)
#: the assistant hands the user to a person ("I'll transfer you to a human agent")
ESCALATE = _rx(
    r"\b(transfer(ring|red)? you|connect(ing|ed)? you|hand(ing|ed)? (you )?over|escalat\w*"
    r"|pass(ing|ed)? (you|this) (on|along)|put(ting)? you through)\b[^.?!]{0,60}"
    r"\b(human|agent|representative|person|specialist|colleague|team|supervisor|manager)"
)
#: the assistant declines under a rule ("not allowed", "against our policy")
REFUSAL = _rx(
    r"\b(not (allowed|permitted|eligible|possible)|policy|policies|ineligible|cannot be"
    r"|can'?t be|(unable|not able) to (assist|help|process|do|make|change|modify|cancel)"
    r"|i'?m afraid|unfortunately|i can(no|'?)t)\b"
)
#: the assistant offers a further action ("Would you like me to book it?")
OFFER = _rx(
    r"\b(would you like( me)? to|do you (want|wish|need)( me)? to|should i|shall i|want me to"
    r"|want to|can i|would you like)"
    r"\s+(?!help\b|assist\b|do\b|find you anything|be of)(?P<verb>\w+)"
)
#: the assistant asks what the user wants done ("let me know what changes you'd like")
SOLICITS = _rx(
    r"\b(what|which|how)\b[^.?!]{0,60}\b(you'?d like|you would like|you want|you wish"
    r"|you prefer|to proceed|you need)\b"
)
#: the assistant puts forward one item it found ("How about the Grand, 3 stars?")
PROPOSES_FOUND = _rx(r"^\W*(\w+[,.!]\s*)?(how|what) about (the |a |an )?\w")
#: open-ended "anything else?" questions, which offer nothing in particular
ANYTHING_ELSE = _rx(
    r"\b(anything|something|any) (else|other|more)\b|\bother help\b|\bneed me\b"
    r"|\b(a different|another|any other|some other) (task|thing|request|question)\b"
)


#: an action put as a short question ("So, buy the tickets?")
_BARE_OFFER = _rx(rf"^\W*(\w+,\s*)?(?P<verb>{ACTION_VERBS})\b[^?]*\?")

_ASKS = _rx(
    r"(^|[.!:]\s+)(\w+, )?((in|for|at|from|to|on|with|by) )?"
    r"(which|what|where|when|who|how|do|does|did|would|could|can|shall|should|is|are|will)\b"
    r"|\b(please confirm|confirm (that|the|please)|let me know|tell me)\b"
    r"|\bplease (provide|specify|give|verify|make sure|let me (have|know))\b"
    r"|\bif you (can|could) (provide|share|give|tell|send|confirm)\b"
    r"|(^|[.!]\s+)confirm\b|\b(to confirm|confirming|kindly (confirm|ensure|verify))\b"
    r"|\bis (this|that) (correct|right)\b"
    r"|\bi (just |still )?need (to know|your)\b"
    r"|\b(i'?ll|i will|i'?d|i would) (first |also )?need (your|the|to know|some|a few|more)\b"
)


#: distinct replies whose "is it a question" is kept (a bounded LRU of whole texts)
QUESTIONS_CACHE = 1024


@functools.lru_cache(maxsize=QUESTIONS_CACHE)
def is_question(text: str) -> bool:
    """The assistant asks the user something (with or without a question mark).
    Cached: the last reply is asked about by several rules per message."""
    return "?" in text or bool(_ASKS.search(text))


def offer_phrase(text: str) -> str:
    """The action the assistant offers (``"book it"``), or ``""``."""
    for sentence in re.split(r"(?<=[.?!])\s+", text):
        if "?" not in sentence and not sentence.lower().startswith(
            ("should", "shall", "would", "do you")
        ):
            continue
        match = OFFER.search(sentence) or _BARE_OFFER.search(sentence)
        if match and not ANYTHING_ELSE.search(sentence):
            return sentence[match.start("verb") :].rstrip(" ?.!")
    return ""


# --- words and tool names --------------------------------------------------------

#: numbers written as words
NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
}

#: verbs of looking things up; a tool named with one of these is a search
SEARCH_VERBS = frozenset(
    [
        "find",
        "search",
        "get",
        "lookup",
        "look",
        "check",
        "list",
        "browse",
        "show",
        "fetch",
        "query",
        "read",
        "view",
        "retrieve",
        "see",
        "discover",
        "explore",
    ]
)
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "to",
        "of",
        "for",
        "in",
        "on",
        "at",
        "by",
        "with",
        "and",
        "or",
        "my",
        "me",
        "i",
        "you",
        "it",
        "is",
        "are",
        "be",
        "do",
        "can",
        "could",
        "would",
        "will",
        "please",
        "some",
        "any",
        "this",
        "that",
        "there",
        "their",
        "them",
        "from",
        "up",
        "out",
        "about",
    ]
)
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


#: distinct texts whose words are kept (a bounded LRU)
WORDS_CACHE = 4096


def words(text: str) -> list[str]:
    """Lower-case words, camelCase and snake_case split, naive plural stripped."""
    return list(_words(text))


@functools.lru_cache(maxsize=WORDS_CACHE)
def _words(text: str) -> tuple[str, ...]:
    # the same texts (tool names, argument values, the message at hand) are split
    # by many rules per message: once each
    out = []
    for part in _CAMEL.findall(text):
        w = part.lower()
        if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out.append(w)
    return tuple(out)


def content_words(text: str) -> set[str]:
    """The words of ``text`` of three letters or more that are not stop words."""
    return {w for w in words(text) if len(w) >= 3 and w not in _STOP}


def tool_nouns(tool_name: str) -> frozenset[str]:
    """The words of a tool name that are not verbs of searching or stop words."""
    return frozenset(w for w in words(tool_name) if w not in SEARCH_VERBS and w not in _STOP)


def is_search_tool(tool_name: str) -> bool:
    parts = words(tool_name)
    return bool(parts) and parts[0] in SEARCH_VERBS


# --- tool arguments --------------------------------------------------------------


def argument_keys(arguments: str) -> set[str]:
    """Words of the top-level argument names of a tool call (JSON text)."""
    try:
        data = json.loads(arguments)
    except ValueError:
        return set()
    return {w for key in data for w in words(str(key))} if isinstance(data, dict) else set()


def result_fields(content: str) -> set[str]:
    """Words of the field names in a JSON tool result (every word if it is not JSON)."""
    try:
        data = json.loads(content)
    except ValueError:
        return set(words(content))
    out: set[str] = set()
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                out.update(words(str(key)))
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return out
