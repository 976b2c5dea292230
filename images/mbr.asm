; mbr.img: a one-sector boot program for fast tests (idle.img: built with
; -DIDLE, it prints the user-space marker and idles instead of halting).
; SeaBIOS loads it at 0000:7C00; it writes one line to COM1 and halts
; with interrupts off, which amiboot reports as the guest halting.
bits 16
org 0x7c00

COM1 equ 0x3f8

start:
    cli
    xor ax, ax
    mov ds, ax
    mov si, message
.next:
    lodsb
    test al, al
    jz .halt
    mov ah, al
    mov dx, COM1 + 5        ; line status register
.wait:
    in al, dx
    test al, 0x20           ; transmit holding register empty
    jz .wait
    mov al, ah
    mov dx, COM1
    out dx, al
    jmp .next
.halt:
%ifdef IDLE
    sti                     ; idle.img: wait for interrupts for ever (a guest that stays up)
%else
    cli
%endif
    hlt
    jmp .halt

%ifdef IDLE
message: db "AMIBOOT-USERSPACE-READY idle.img: a boot sector that idles", 13, 10, 0
%else
message: db "amiboot mbr.img: hello from the boot sector", 13, 10, 0
%endif

times 510 - ($ - $$) db 0
dw 0xaa55
