//! The pickle format's opcodes, protocols 0 to 5, with the names CPython's `pickletools`
//! gives them: definitions only, apart from the machine that reads them (as gimli-rs/object
//! keeps `elf.rs` apart from its readers).
//!
//! Arguments are written after the opcode: `u1`, `u2`, `u4`, `u8` are little-endian unsigned
//! integers of that many bytes, `i4` a signed one, "line" a newline-terminated ASCII text.

// Protocol 0 and 1: the stack, marks and the end.

/// Pushes a mark: the start of the items of the next LIST, DICT, TUPLE, APPENDS, SETITEMS...
pub const MARK: u8 = b'(';
/// Ends the pickle; the value on top of the stack is the result.
pub const STOP: u8 = b'.';
/// Discards the top of the stack (or the innermost mark, when nothing is above it).
pub const POP: u8 = b'0';
/// Discards everything down to and including the innermost mark.
pub const POP_MARK: u8 = b'1';
/// Pushes the top of the stack again (the same object, not a copy).
pub const DUP: u8 = b'2';

// Protocol 0 and 1: scalars.

/// `None`.
pub const NONE: u8 = b'N';
/// An int (or `01`/`00` for True/False) as decimal text: line.
pub const INT: u8 = b'I';
/// An int: i4.
pub const BININT: u8 = b'J';
/// An int: u1.
pub const BININT1: u8 = b'K';
/// An int: u2.
pub const BININT2: u8 = b'M';
/// An int of any size as decimal text with an optional `L` suffix: line.
pub const LONG: u8 = b'L';
/// A float as text: line.
pub const FLOAT: u8 = b'F';
/// A float: 8 bytes, big-endian IEEE 754.
pub const BINFLOAT: u8 = b'G';

// Protocol 0 and 1: strings and bytes.

/// A Python 2 `str` as a quoted literal: line.
pub const STRING: u8 = b'S';
/// A Python 2 `str`: u4 length, then the bytes.
pub const BINSTRING: u8 = b'T';
/// A Python 2 `str`: u1 length, then the bytes.
pub const SHORT_BINSTRING: u8 = b'U';
/// A `str` in raw-unicode-escape encoding: line.
pub const UNICODE: u8 = b'V';
/// A `str`: u4 length, then UTF-8.
pub const BINUNICODE: u8 = b'X';

// Protocol 0 and 1: containers.

/// `[]`.
pub const EMPTY_LIST: u8 = b']';
/// `{}`.
pub const EMPTY_DICT: u8 = b'}';
/// `()`.
pub const EMPTY_TUPLE: u8 = b')';
/// A list of the items above the innermost mark.
pub const LIST: u8 = b'l';
/// A dict of the key/value pairs above the innermost mark.
pub const DICT: u8 = b'd';
/// A tuple of the items above the innermost mark.
pub const TUPLE: u8 = b't';
/// Appends the top of the stack to the list below it.
pub const APPEND: u8 = b'a';
/// Appends the items above the innermost mark to the list below the mark.
pub const APPENDS: u8 = b'e';
/// Sets one key/value pair (the top two values) in the dict below them.
pub const SETITEM: u8 = b's';
/// Sets the key/value pairs above the innermost mark in the dict below the mark.
pub const SETITEMS: u8 = b'u';

// Protocol 0 and 1: the memo, where a pickler keeps objects it refers to more than once.

/// Stores the top of the stack in the memo: decimal key, line.
pub const PUT: u8 = b'p';
/// Stores the top of the stack in the memo: u1 key.
pub const BINPUT: u8 = b'q';
/// Stores the top of the stack in the memo: u4 key.
pub const LONG_BINPUT: u8 = b'r';
/// Pushes a memo entry: decimal key, line.
pub const GET: u8 = b'g';
/// Pushes a memo entry: u1 key.
pub const BINGET: u8 = b'h';
/// Pushes a memo entry: u4 key.
pub const LONG_BINGET: u8 = b'j';

// Protocol 2.

/// The protocol number: u1. First in every pickle of protocol 2 and later.
pub const PROTO: u8 = 0x80;
/// A tuple of the top item.
pub const TUPLE1: u8 = 0x85;
/// A tuple of the top two items.
pub const TUPLE2: u8 = 0x86;
/// A tuple of the top three items.
pub const TUPLE3: u8 = 0x87;
/// `True`.
pub const NEWTRUE: u8 = 0x88;
/// `False`.
pub const NEWFALSE: u8 = 0x89;
/// An int: u1 length, then that many bytes, little-endian two's complement.
pub const LONG1: u8 = 0x8a;
/// An int: u4 length, then that many bytes, little-endian two's complement.
pub const LONG4: u8 = 0x8b;

// Protocol 3.

/// `bytes`: u4 length, then the bytes.
pub const BINBYTES: u8 = b'B';
/// `bytes`: u1 length, then the bytes.
pub const SHORT_BINBYTES: u8 = b'C';

// Protocol 4.

/// A `str`: u1 length, then UTF-8. Every key of a snapshot dict is one.
pub const SHORT_BINUNICODE: u8 = 0x8c;
/// A `str`: u8 length, then UTF-8.
pub const BINUNICODE8: u8 = 0x8d;
/// `bytes`: u8 length, then the bytes.
pub const BINBYTES8: u8 = 0x8e;
/// `set()`.
pub const EMPTY_SET: u8 = 0x8f;
/// Adds the items above the innermost mark to the set below the mark.
pub const ADDITEMS: u8 = 0x90;
/// A frozenset of the items above the innermost mark.
pub const FROZENSET: u8 = 0x91;
/// Stores the top of the stack in the memo under the next free key.
pub const MEMOIZE: u8 = 0x94;
/// The length of the next frame of opcodes: u8. A buffering hint only.
pub const FRAME: u8 = 0x95;

// Protocol 5.

/// `bytearray`: u8 length, then the bytes.
pub const BYTEARRAY8: u8 = 0x96;

// Opcodes that import, call or fetch something outside the pickle. A memory snapshot holds
// only plain data, so memsight refuses every one of them.

/// Pushes `module.name`, given as two lines of text.
pub const GLOBAL: u8 = b'c';
/// Pushes `module.name` from the two strings on top of the stack.
pub const STACK_GLOBAL: u8 = 0x93;
/// Calls a callable with an argument tuple.
pub const REDUCE: u8 = b'R';
/// Calls `__setstate__` or updates `__dict__`.
pub const BUILD: u8 = b'b';
/// Builds a class instance, class named by text.
pub const INST: u8 = b'i';
/// Builds a class instance, class on the stack.
pub const OBJ: u8 = b'o';
/// `cls.__new__(cls, *args)`.
pub const NEWOBJ: u8 = 0x81;
/// `cls.__new__(cls, *args, **kwargs)`.
pub const NEWOBJ_EX: u8 = 0x92;
/// A persistent id, resolved by the unpickler's `persistent_load`: line.
pub const PERSID: u8 = b'P';
/// A persistent id from the stack.
pub const BINPERSID: u8 = b'Q';
/// An object from the copyreg extension registry: u1 code.
pub const EXT1: u8 = 0x82;
/// An object from the copyreg extension registry: u2 code.
pub const EXT2: u8 = 0x83;
/// An object from the copyreg extension registry: i4 code.
pub const EXT4: u8 = 0x84;
/// An out-of-band buffer, handed to the unpickler by its caller.
pub const NEXT_BUFFER: u8 = 0x97;
/// Makes the buffer on top of the stack read-only.
pub const READONLY_BUFFER: u8 = 0x98;

/// The name of an opcode the reader refuses, for error messages.
pub fn forbidden_name(op: u8) -> Option<&'static str> {
    Some(match op {
        GLOBAL => "GLOBAL",
        STACK_GLOBAL => "STACK_GLOBAL",
        REDUCE => "REDUCE",
        BUILD => "BUILD",
        INST => "INST",
        OBJ => "OBJ",
        NEWOBJ => "NEWOBJ",
        NEWOBJ_EX => "NEWOBJ_EX",
        PERSID => "PERSID",
        BINPERSID => "BINPERSID",
        EXT1 => "EXT1",
        EXT2 => "EXT2",
        EXT4 => "EXT4",
        NEXT_BUFFER => "NEXT_BUFFER",
        READONLY_BUFFER => "READONLY_BUFFER",
        _ => return None,
    })
}

/// Whether a pickle can start with `op`: PROTO (protocol 2 and later), or a protocol 0/1
/// opcode that pushes a value or a mark. Any other first byte means another kind of file.
pub fn can_start(op: u8) -> bool {
    matches!(
        op,
        PROTO
            | MARK
            | EMPTY_LIST
            | EMPTY_DICT
            | EMPTY_TUPLE
            | NONE
            | INT
            | BININT
            | BININT1
            | BININT2
            | LONG
            | FLOAT
            | BINFLOAT
            | STRING
            | BINSTRING
            | SHORT_BINSTRING
            | UNICODE
            | BINUNICODE
    )
}

/// How many bytes a string or bytes opcode spends on its length: SHORT_ opcodes one, the
/// plain ones four, the protocol 4 and 5 ones eight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    One,
    Four,
    Eight,
}
