import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addressKey } from "./address.js";

describe("addressKey", () => {
  it("keeps IPv4 and unwraps IPv4-mapped IPv6", () => {
    assert.equal(addressKey("203.0.113.9"), "203.0.113.9");
    assert.equal(addressKey("::ffff:203.0.113.9"), "203.0.113.9");
  });

  it("groups IPv6 by /64, however it is written", () => {
    const key = "2001:db8:1:2::/64";
    for (const address of [
      "2001:db8:1:2::1",
      "2001:0db8:0001:0002:ffff:ffff:ffff:ffff",
      "2001:db8:1:2:0:0:0:7",
      "2001:DB8:1:2::abcd",
      "2001:db8:1:2::1%eth0",
    ]) {
      assert.equal(addressKey(address), key, address);
    }
    assert.notEqual(addressKey("2001:db8:1:3::1"), key);
    assert.equal(addressKey("::1"), "0:0:0:0::/64");
    assert.equal(addressKey("fe80::1"), "fe80:0:0:0::/64");
  });

  it("passes anything else through", () => {
    assert.equal(addressKey("unknown"), "unknown");
  });
});
