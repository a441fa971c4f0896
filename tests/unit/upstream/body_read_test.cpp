// How an exchange turns what one socket read brought into one piece of body: issue 17's "events
// that arrive in one read leave in one write", and the read sizes behind it.
#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <string>
#include <string_view>

#include "aiproxy/upstream/http_client.hpp"

namespace aiproxy::upstream {
namespace {

constexpr std::string_view kStreamHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

std::string chunk(std::string_view data) {
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    return std::string(size) + std::string(data) + "\r\n";
}

// Appends bytes as a socket read would.
void arrive(boost::beast::flat_buffer& buffer, std::string_view bytes) {
    auto room = buffer.prepare(bytes.size());
    boost::asio::buffer_copy(room, boost::asio::buffer(bytes.data(), bytes.size()));
    buffer.commit(bytes.size());
}

// A parser past the head, as HttpExchange::start leaves it.
void readHead(ResponseParser& parser, boost::beast::flat_buffer& buffer) {
    arrive(buffer, kStreamHead);
    error_code ec;
    buffer.consume(parser.put(buffer.data(), ec));
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_TRUE(parser.is_header_done());
}

std::string_view piece(const ResponseParser& parser, const BodyRead& read) {
    return {parser.get().body().begin, read.size};
}

TEST(BodyReadTest, ChunksOfOneReadComeOutAsOnePieceAndTheEndWithThem) {
    ResponseParser parser;
    boost::beast::flat_buffer buffer;
    readHead(parser, buffer);
    const std::string events[] = {"data: {\"a\":1}\n\n", "data: {\"b\":2}\n\n", "data: [DONE]\n\n"};
    arrive(buffer, chunk(events[0]) + chunk(events[1]) + chunk(events[2]) + "0\r\n\r\n");

    auto read = decodeBuffered(parser, buffer);

    ASSERT_FALSE(read.error) << read.error.message();
    EXPECT_EQ(piece(parser, read), events[0] + events[1] + events[2]);
    EXPECT_TRUE(parser.is_done());  // the terminator goes out with the data
    EXPECT_EQ(buffer.size(), 0u);
}

TEST(BodyReadTest, AChunkCutByTheReadIsFinishedByTheNext) {
    ResponseParser parser;
    boost::beast::flat_buffer buffer;
    readHead(parser, buffer);
    std::string bytes = chunk("data: first\n\n") + chunk("data: second\n\n") + "0\r\n\r\n";
    const std::size_t cut = chunk("data: first\n\n").size() + 2;  // inside the second's size line

    arrive(buffer, std::string_view(bytes).substr(0, cut));
    auto first = decodeBuffered(parser, buffer);
    ASSERT_FALSE(first.error) << first.error.message();
    EXPECT_EQ(piece(parser, first), "data: first\n\n");
    EXPECT_FALSE(parser.is_done());

    arrive(buffer, std::string_view(bytes).substr(cut));
    auto second = decodeBuffered(parser, buffer);
    ASSERT_FALSE(second.error) << second.error.message();
    EXPECT_EQ(piece(parser, second), "data: second\n\n");
    EXPECT_TRUE(parser.is_done());
}

TEST(BodyReadTest, FramingAloneIsNoPieceAndNoError) {
    ResponseParser parser;
    boost::beast::flat_buffer buffer;
    readHead(parser, buffer);
    arrive(buffer, "1a");  // half a size line

    auto read = decodeBuffered(parser, buffer);

    EXPECT_FALSE(read.error);
    EXPECT_EQ(read.size, 0u);
    EXPECT_FALSE(parser.is_done());
}

TEST(BodyReadTest, ALengthDelimitedBodyStaysWhereItArrived) {
    ResponseParser parser;
    boost::beast::flat_buffer buffer;
    arrive(buffer, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n");
    error_code ec;
    buffer.consume(parser.put(buffer.data(), ec));
    ASSERT_FALSE(ec);
    arrive(buffer, "{\"ok\":true}");

    auto read = decodeBuffered(parser, buffer);

    ASSERT_FALSE(read.error);
    EXPECT_EQ(piece(parser, read), "{\"ok\":true}");
    EXPECT_TRUE(parser.is_done());
}

TEST(BodyReadTest, BadFramingIsAnError) {
    ResponseParser parser;
    boost::beast::flat_buffer buffer;
    readHead(parser, buffer);
    arrive(buffer, "zz\r\nhello\r\n");

    EXPECT_TRUE(decodeBuffered(parser, buffer).error);
}

constexpr std::size_t kInitial = 4096;
constexpr std::size_t kMax = 65536;

TEST(BodyReadTest, ReadsAskForTheWholeFreeBufferNotAFixedSmallPiece) {
    EXPECT_EQ(nextReadSize(4096, 0, false, kInitial, kMax), 4096u);
    EXPECT_EQ(nextReadSize(16384, 0, false, kInitial, kMax), 16384u);
    // A partial size line left over: the rest of the buffer, no reallocation for it.
    EXPECT_EQ(nextReadSize(4096, 3, false, kInitial, kMax), 4093u);
    // Next to nothing free: the initial size.
    EXPECT_EQ(nextReadSize(4096, 4000, false, kInitial, kMax), kInitial);
    // An empty buffer (first use) asks for the initial size, never Beast's 512.
    EXPECT_EQ(nextReadSize(0, 0, false, kInitial, kMax), kInitial);
}

TEST(BodyReadTest, AReadThatFillsTheBufferDoublesTheNextUpToTheMaximum) {
    EXPECT_EQ(nextReadSize(4096, 0, true, kInitial, kMax), 8192u);
    EXPECT_EQ(nextReadSize(32768, 0, true, kInitial, kMax), 65536u);
    EXPECT_EQ(nextReadSize(65536, 0, true, kInitial, kMax), 65536u);
}

}  // namespace
}  // namespace aiproxy::upstream
