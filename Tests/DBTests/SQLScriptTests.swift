import DB
import Testing

@Suite struct SQLScriptTests {
    @Test func splitsOnSemicolonsBetweenStatements() {
        #expect(
            SQLScript.statements(in: "create table a (x int);\n\ncreate index i on a (x);\n") == [
                "create table a (x int)", "create index i on a (x)",
            ])
    }

    @Test func keepsSemicolonsInsideStringsIdentifiersAndComments() {
        let script = """
            -- a comment; with a semicolon
            insert into t values ('a;b', 'it''s; fine');
            create table "odd;name" (x int); /* block; /* nested; */ still; */
            select 1
            """
        #expect(
            SQLScript.statements(in: script) == [
                "-- a comment; with a semicolon\ninsert into t values ('a;b', 'it''s; fine')",
                "create table \"odd;name\" (x int)",
                "/* block; /* nested; */ still; */\nselect 1",
            ])
    }

    @Test func keepsDollarQuotedBodiesWhole() {
        let script = """
            create function f() returns int as $$ begin return 1; end; $$ language plpgsql;
            create function g() returns int as $body$ select 2; $body$ language sql;
            select $1;
            """
        #expect(
            SQLScript.statements(in: script) == [
                "create function f() returns int as $$ begin return 1; end; $$ language plpgsql",
                "create function g() returns int as $body$ select 2; $body$ language sql",
                "select $1",
            ])
    }

    @Test func dropsEmptyAndCommentOnlyStatements() {
        #expect(SQLScript.statements(in: ";;\n-- only a comment\n;  ") == [])
    }
}
