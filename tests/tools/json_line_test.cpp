// pkt-gen's JSON lines: escaped, versioned, one object per line.
#include "json_line.hpp"

#include <gtest/gtest.h>

namespace pktgen {
namespace {

TEST(JsonLine, StringsAreEscapedAndTheKindComesFirst) {
    const std::string name = "we\"ird\\na\nme\t\x01";
    Json j = json_line("seq", name);
    j["received"] = 3;
    const std::string text = json_text(j);
    EXPECT_EQ(text.find('\n'), std::string::npos) << "one line: " << text;
    EXPECT_EQ(text.rfind("{\"seq\":", 0), 0u) << text;
    Json back = Json::parse(text);
    EXPECT_EQ(back["seq"], name);
    EXPECT_EQ(back["schema"], json_schema);
    EXPECT_EQ(back["received"], 3);
    EXPECT_EQ(std::prev(back.end()).key(), "schema") << "the version last: " << text;
}

TEST(JsonLine, BytesThatAreNotUtf8DoNotBreakTheLine) {
    const std::string text = json_text(json_line("one_way", std::string("eth\xff\xfe" "0")));
    Json back = Json::parse(text); // would throw on invalid UTF-8
    EXPECT_EQ(back["one_way"], "eth\xEF\xBF\xBD\xEF\xBF\xBD" "0");
}

} // namespace
} // namespace pktgen
